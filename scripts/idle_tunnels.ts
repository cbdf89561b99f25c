/**
 * `deno task bench tunnels`: RSS per idle CONNECT tunnel for snoop (sniffing on, an http
 * recorder whose endpoint is down, as in compare (e)) and for the least a Deno relay can
 * hold (scripts/lib/floor_relay.ts), each as its own process, with the same client; then
 * RSS 5 s after the tunnels close, and after a second round (does it come back or grow?).
 *
 *   deno task bench tunnels [--count 2000]
 */
import { parseArgs } from "node:util";
import { freePort, rssMiB, spawn, startTcpHolder, waitForPort } from "./lib/processes.ts";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "tunnels"),
  options: { count: { type: "string", default: "2000" } },
  strict: false,
});
const COUNT = Number(values.count);
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tunnels' far end, its own process. */
const holder = await startTcpHolder();
const holderPort = holder.port;

async function openTunnel(proxyPort: number): Promise<Deno.Conn> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  await c.write(encoder.encode(`CONNECT 127.0.0.1:${holderPort} HTTP/1.1\r\nHost: x\r\n\r\n`));
  const answer = new Uint8Array(512);
  const n = await c.read(answer);
  if (!n || !new TextDecoder().decode(answer.subarray(0, n)).startsWith("HTTP/1.1 200")) {
    throw new Error("CONNECT refused");
  }
  return c;
}

async function measure(name: string, pid: number, port: number): Promise<string> {
  await sleep(1000);
  const idle = rssMiB(pid);
  const cells: string[] = [];
  for (let round = 0; round < 2; round++) {
    const before = rssMiB(pid);
    const tunnels: Deno.Conn[] = [];
    for (let i = 0; i < COUNT; i += 100) {
      tunnels.push(
        ...await Promise.all(
          Array.from({ length: Math.min(100, COUNT - i) }, () => openTunnel(port)),
        ),
      );
    }
    await sleep(2000);
    const loaded = rssMiB(pid);
    cells.push(`${(((loaded - before) * 1024) / COUNT).toFixed(1)}`);
    for (const t of tunnels) t.close();
    await sleep(5000);
    cells.push(rssMiB(pid).toFixed(0));
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

  const floorPort = freePort();
  const floor = spawn(Deno.execPath(), [
    "run",
    "--allow-net",
    new URL("./lib/floor_relay.ts", import.meta.url).pathname,
    String(floorPort),
    String(holderPort),
  ]);
  await waitForPort(floorPort, floor.log);
  rows.push(await measure("Deno floor (1-byte reads, nothing else)", floor.pid, floorPort));
  await floor.stop();
} finally {
  await holder.proc.stop();
  await Deno.remove(dir, { recursive: true });
}

console.log(
  `\n### tunnels: RSS per idle CONNECT tunnel, ${COUNT.toLocaleString("en")} at a time\n`,
);
console.log(
  "| process | idle MiB | round 1 KiB/tunnel | 5 s after closing MiB | round 2 KiB/tunnel | 5 s after closing MiB |",
);
console.log("|---|---:|---:|---:|---:|---:|");
rows.forEach((r) => console.log(r));
