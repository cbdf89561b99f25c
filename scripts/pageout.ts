/**
 * `deno task bench pageout`: what snoop's RSS after load is made of, and what handing the
 * executable's pages back would cost. snoop (sniffing on, an http recorder whose endpoint is
 * down, so its records wait in the queue) holds `--count` idle CONNECT tunnels, which then
 * close; 35 s later (after its idle collection) RSS is split into anonymous memory (heaps,
 * stacks) and file-backed pages (the deno executable's code). Then this script asks the
 * kernel to page out snoop's mappings of the executable (`process_madvise(MADV_PAGEOUT)`,
 * Linux 5.10+, needs CAP_SYS_NICE) and times the first tunnels after that against those
 * before it.
 *
 * Pages that another process maps too are skipped by MADV_PAGEOUT: the deno running this
 * script and the tunnels' far end share the executable, so what it drops here is a lower
 * bound for a snoop alone on its machine.
 *
 *   deno task bench pageout [--count 5000]
 */
import type net from "node:net";
import { parseArgs } from "node:util";
import { connectTunnel } from "./lib/mitm_load.ts";
import { freePort, rssMiB, spawn, startTcpHolder, waitForPort } from "./lib/processes.ts";
import { SNOOP_V8_FLAGS } from "./lib/v8_flags.ts";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "pageout"),
  options: { count: { type: "string", default: "5000" } },
  strict: false,
});
const COUNT = Number(values.count);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Linux x86_64 system call numbers and madvise's advice (include/uapi/asm-generic/mman-common.h).
const SYS_PIDFD_OPEN = 434n;
const SYS_PROCESS_MADVISE = 440n;
const MADV_PAGEOUT = 21n;

/**
 * Asks the kernel to page out every mapping of `pid`'s executable; returns the bytes it
 * advised, or throws with the error number.
 */
function pageOutExecutable(pid: number): number {
  const exe = Deno.readLinkSync(`/proc/${pid}/exe`);
  // struct iovec { void *iov_base; size_t iov_len; } per mapping of the file.
  const iovecs: bigint[] = [];
  for (const line of Deno.readTextFileSync(`/proc/${pid}/maps`).split("\n")) {
    if (!line.endsWith(` ${exe}`)) continue;
    const [start, end] = line.split(" ")[0].split("-").map((hex) => BigInt(`0x${hex}`));
    iovecs.push(start, end - start);
  }
  const libc = Deno.dlopen("libc.so.6", {
    syscall: { parameters: ["i64", "i64", "i64", "i64", "i64", "i64"], result: "i64" },
  });
  try {
    const pidfd = libc.symbols.syscall(SYS_PIDFD_OPEN, BigInt(pid), 0n, 0n, 0n, 0n);
    if (pidfd < 0n) throw new Error(`pidfd_open failed (${pidfd})`);
    const vector = new BigUint64Array(iovecs);
    const address = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(vector)));
    const count = BigInt(iovecs.length / 2);
    const advised = libc.symbols.syscall(
      SYS_PROCESS_MADVISE,
      pidfd,
      address,
      count,
      MADV_PAGEOUT,
      0n,
    );
    if (advised < 0n) throw new Error(`process_madvise failed (${advised}): root or CAP_SYS_NICE?`);
    return Number(advised);
  } finally {
    libc.close();
  }
}

const holder = await startTcpHolder();
const port = freePort();
const dir = await Deno.makeTempDir({ prefix: "snoop-pageout-" });
await Deno.writeTextFile(
  `${dir}/snoop.yaml`,
  `services:
  - name: pageout
    addr: 127.0.0.1:${port}
    recorders: [{ name: down }]
    handler:
      type: auto
      metadata: { sniffing: true, maxConnections: 0, maxConnectionsPerClient: 0 }
recorders:
  - name: down
    http: { url: "http://127.0.0.1:${freePort()}/records" }
`,
);
const snoop = spawn(Deno.execPath(), [
  "run",
  "--allow-all",
  `--v8-flags=${SNOOP_V8_FLAGS}`,
  new URL("../mod.ts", import.meta.url).pathname,
  "-C",
  `${dir}/snoop.yaml`,
]);

async function openTunnels(n: number): Promise<net.Socket[]> {
  const open: net.Socket[] = [];
  while (open.length < n) {
    open.push(
      ...await Promise.all(
        Array.from(
          { length: Math.min(200, n - open.length) },
          () => connectTunnel(port, `127.0.0.1:${holder.port}`),
        ),
      ),
    );
  }
  return open;
}

/** Milliseconds to open one tunnel (CONNECT answered), each of `n` in turn. */
async function timeTunnels(n: number): Promise<string> {
  const times: string[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const [tunnel] = await openTunnels(1);
    times.push((performance.now() - started).toFixed(1));
    tunnel.destroy();
  }
  return times.join(", ");
}

const rows: string[] = [];
const row = (when: string, tunnelMs = "") => {
  const mib = (["VmRSS", "RssAnon", "RssFile"] as const).map((part) =>
    rssMiB(snoop.pid, part).toFixed(1)
  );
  rows.push(`| ${when} | ${mib.join(" | ")} | ${tunnelMs} |`);
};
try {
  await waitForPort(port, snoop.log);
  await sleep(3000);
  row("idle, before any tunnel");
  // The first tunnels load what sniffing and recording need: a warm idle to compare with.
  const warmUp = await timeTunnels(3);
  await sleep(2000);
  row("idle after 3 tunnels", warmUp);
  const held = await openTunnels(COUNT);
  await sleep(2000);
  row(`${COUNT} tunnels open`);
  for (const t of held) t.destroy();
  await sleep(35_000);
  row("35 s after they closed");
  row("then 3 tunnels", await timeTunnels(3));
  await sleep(1000);
  const advised = pageOutExecutable(snoop.pid);
  row(`executable paged out (${(advised / 2 ** 20).toFixed(0)} MiB advised)`);
  row("then 3 tunnels", await timeTunnels(3));
  console.log(
    `\n### pageout: RSS after ${COUNT} idle tunnels, and the executable's pages handed back\n\n` +
      "| when | RSS MiB | anonymous | file-backed | tunnel ms |\n|---|---:|---:|---:|---|\n" +
      rows.join("\n"),
  );
} finally {
  await snoop.stop();
  await holder.proc.stop();
  await Deno.remove(dir, { recursive: true });
}
