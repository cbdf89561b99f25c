/**
 * `deno task bench tunnels`: RSS per idle CONNECT tunnel for snoop (sniffing on, an http
 * recorder whose endpoint is down; compare (e)'s is up) and for the least a Deno relay can
 * hold (scripts/lib/floor_relay.ts), each as its own process, with the same client; then
 * RSS 5 s after the tunnels close, and after a second round (does it come back or grow?).
 * Also the CPU time (from /proc) per tunnel opened and per tunnel closed.
 *
 *   deno task bench tunnels [--count 2000]
 */
import { parseArgs } from "node:util";
import type net from "node:net";
import { connectTunnel } from "./lib/mitm_load.ts";
import {
  cpuSeconds,
  freePort,
  rssMiB,
  spawn,
  startFloorRelay,
  startTcpHolder,
  waitForPort,
} from "./lib/processes.ts";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "tunnels"),
  options: { count: { type: "string", default: "2000" } },
  strict: false,
});
const COUNT = Number(values.count);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tunnels' far end, its own process. */
const holder = await startTcpHolder();

async function measure(name: string, pid: number, port: number): Promise<string> {
  await sleep(1000);
  const idle = rssMiB(pid);
  const cells: string[] = [];
  for (let round = 0; round < 2; round++) {
    const before = rssMiB(pid);
    const cpuBeforeOpen = cpuSeconds(pid);
    const tunnels: net.Socket[] = [];
    for (let i = 0; i < COUNT; i += 100) {
      tunnels.push(
        ...await Promise.all(
          Array.from(
            { length: Math.min(100, COUNT - i) },
            () => connectTunnel(port, `127.0.0.1:${holder.port}`),
          ),
        ),
      );
    }
    await sleep(2000);
    const loaded = rssMiB(pid);
    const openUs = ((cpuSeconds(pid) - cpuBeforeOpen) * 1e6) / COUNT;
    cells.push(`${(((loaded - before) * 1024) / COUNT).toFixed(1)}`);
    const cpuBeforeClose = cpuSeconds(pid);
    for (const t of tunnels) t.destroy();
    await sleep(5000);
    const closeUs = ((cpuSeconds(pid) - cpuBeforeClose) * 1e6) / COUNT;
    cells.push(`${openUs.toFixed(0)} / ${closeUs.toFixed(0)}`, rssMiB(pid).toFixed(0));
  }
  return `| ${name} | ${idle.toFixed(0)} | ${cells.join(" | ")} |`;
}

const dir = await Deno.makeTempDir({ prefix: "snoop-tunnels-" });
const rows: string[] = [];
try {
  const snoopPort = freePort();
  await Deno.writeTextFile(
    `${dir}/snoop.yaml`,
    `
services:
  - name: bench
    addr: 127.0.0.1:${snoopPort}
    recorders: [{ name: hook }]
    handler:
      type: http
      metadata: { maxConnectionsPerClient: 0, maxConnections: 0, sniffing: true }
recorders:
  - { name: hook, http: { url: "http://127.0.0.1:${freePort()}/" } }
`,
  );
  const snoop = spawn(Deno.execPath(), [
    "run",
    "--allow-all",
    new URL("../mod.ts", import.meta.url).pathname,
    "-C",
    `${dir}/snoop.yaml`,
  ]);
  await waitForPort(snoopPort, snoop.log);
  rows.push(await measure("snoop (sniffing, recorder down)", snoop.pid, snoopPort));
  await snoop.stop();

  const floor = await startFloorRelay();
  rows.push(await measure("Deno floor (1-byte reads, nothing else)", floor.proc.pid, floor.port));
  await floor.proc.stop();
} finally {
  await holder.proc.stop();
  await Deno.remove(dir, { recursive: true });
}

console.log(
  `\n### tunnels: RSS per idle CONNECT tunnel, ${COUNT.toLocaleString("en")} at a time\n`,
);
console.log(
  "| process | idle MiB | round 1 KiB/tunnel | open / close µs CPU | 5 s after closing MiB | round 2 KiB/tunnel | open / close µs CPU | 5 s after closing MiB |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
rows.forEach((r) => console.log(r));
