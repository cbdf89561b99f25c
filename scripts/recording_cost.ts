/**
 * `deno task bench recording`: what recording costs, side by side. snoop runs once per
 * recording mode, all at the same time, under compare (a)'s load (wrk -t2 -c50, 1 KiB
 * responses from nginx, absolute-URI requests); wrk goes to each in turn for `--rounds`
 * rounds of `--seconds` (every other round in reverse order, each turn after one unmeasured
 * second of load), so the machine's drift (tens of percent over minutes here) falls on every
 * mode alike. Medians of req/s, p99, snoop's CPU per request and the http recorder's
 * endpoint's (a second nginx, answering 204) from /proc; with `--builds`, also each other
 * build's ratio to this checkout paired by round.
 *
 * With `--together`, the builds of one mode take their turn at the same time, each under its
 * own wrk with a share of the load (-t1, 50 connections split between them): they see the
 * same phase of the machine, whose speed moves ±30% from one turn to the next here. One
 * build against itself that way (6 rounds, off and http): median CPU ratios 0.990 and 1.005,
 * ranges 0.86–1.02 and 0.98–1.06; in turns one after the other, 0.883, range 0.52–1.20.
 *
 *   deno task bench recording [--rounds 6] [--seconds 3] [--modes off,down,http,batch,file,store]
 *                             [--builds DIR,...]   (other checkouts' mod.ts, for an A/B)
 *                             [--together]   (the builds of a mode measured at once)
 *                             [--gc]   (V8's --trace-gc-nvp: collections per 10,000 requests)
 *                             [--profile]   (V8's CPU profile of each measured turn, through
 *                                            the inspector: where a mode's busy time per
 *                                            request goes, function by function, next to off)
 *
 * Modes: `off` no sniffing, no recorder; `down` sniffing and an http recorder whose endpoint
 * is down (records are built, then dropped); `http` sniffing and an http recorder to nginx;
 * `batch` the same with `batch: 100` (a JSON array of up to 100 records per POST);
 * `file` sniffing and a file recorder; `store` sniffing and the embedded SQLite store (the main
 * job's recorder).
 */
import { parseArgs } from "node:util";
import { startNginx } from "./lib/nginx_origin.ts";
import { cpuSeconds, freePort, type Proc, spawn, waitForPort } from "./lib/processes.ts";
import { type GcSummary, summarizeGcTrace } from "./lib/gc_trace.ts";
import { profileDuring, summarizeProfile } from "./lib/cpu_profile.ts";
import { type CdpSession, connectDenoInspector } from "./lib/cdp_session.ts";
import { median } from "./lib/stats.ts";
import { SNOOP_V8_FLAGS } from "./lib/v8_flags.ts";
import { wrk } from "./lib/wrk.ts";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "recording"),
  options: {
    rounds: { type: "string", default: "6" },
    seconds: { type: "string", default: "3" },
    modes: { type: "string", default: "off,down,http,batch,file,store" },
    builds: { type: "string", default: "" },
    gc: { type: "boolean", default: false },
    together: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
  },
  strict: false,
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const MODES = String(values.modes).split(",");
const GC = values.gc === true;
const TOGETHER = values.together === true;
const PROFILE = values.profile === true;
const here = new URL("../mod.ts", import.meta.url).pathname;
const BUILDS = [
  here,
  ...String(values.builds).split(",").filter(Boolean).map((d) => `${d}/mod.ts`),
];
for (const m of MODES) {
  if (!["off", "down", "http", "batch", "file", "store"].includes(m)) {
    console.error(`unknown mode ${m}: off, down, http, batch, file or store`);
    Deno.exit(2);
  }
}

interface Runner {
  build: number;
  label: string;
  mode: string;
  port: number;
  proc: Proc;
  rps: number[];
  p99: number[];
  cpuUs: number[];
  endpointUs: number[];
  /** With `--gc`: V8's trace (stdout) and each turn's collections. */
  gcLog: string;
  gc: GcSummary[];
  /** With `--profile`: the inspector, and the measured turns' busy time and requests. */
  inspector?: CdpSession;
  busyUs: number;
  selfUs: Map<string, number>;
  profiledRequests: number;
}

const dir = await Deno.makeTempDir({ prefix: "snoop-recording-" });
await Deno.chmod(dir, 0o777); // nginx's worker runs unprivileged
const procs: Proc[] = [];
try {
  const origin = await startNginx(dir, { tls: false, name: "origin" });
  procs.push(origin.proc);
  const endpoint = await startNginx(dir, { tls: false, name: "endpoint" });
  procs.push(endpoint.proc);
  const runners: Runner[] = [];
  for (const [b, mod] of BUILDS.entries()) {
    for (const mode of MODES) {
      const port = freePort();
      const recorder = mode === "file"
        ? `{ name: hook, file: { path: "${dir}/records-${port}.jsonl" } }`
        : mode === "store"
        ? `{ name: hook, store: { path: "${dir}/store-${port}.db" } }`
        : mode === "batch"
        ? `{ name: hook, http: { url: "http://127.0.0.1:${endpoint.http}/rec", batch: 100 } }`
        : `{ name: hook, http: { url: "http://127.0.0.1:${
          mode === "http" ? endpoint.http : freePort()
        }/rec" } }`;
      const config = `
services:
  - name: bench
    addr: 127.0.0.1:${port}
    ${mode === "off" ? "" : "recorders: [{ name: hook }]"}
    handler:
      type: http
      metadata: { maxConnectionsPerClient: 0, maxConnections: 0, sniffing: ${mode !== "off"} }
${mode === "off" ? "" : `recorders:\n  - ${recorder}`}
`;
      await Deno.writeTextFile(`${dir}/snoop-${port}.yaml`, config);
      const gcLog = `${dir}/gc-${port}.log`;
      const inspectPort = PROFILE ? freePort() : 0;
      const proc = spawn(
        Deno.execPath(),
        [
          "run",
          "--allow-all",
          // As snoop ships (scripts/lib/v8_flags.ts), with V8's GC trace for `--gc`.
          `--v8-flags=${[SNOOP_V8_FLAGS, ...(GC ? ["--trace-gc-nvp"] : [])].join(",")}`,
          ...(PROFILE ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
          mod,
          "-C",
          `${dir}/snoop-${port}.yaml`,
        ],
        {},
        GC ? gcLog : undefined,
      );
      procs.push(proc);
      await waitForPort(port, proc.log);
      const label = BUILDS.length > 1 ? `${b === 0 ? "this checkout" : mod} ${mode}` : mode;
      runners.push({
        build: b,
        label,
        mode,
        port,
        proc,
        rps: [],
        p99: [],
        cpuUs: [],
        endpointUs: [],
        gcLog,
        gc: [],
        inspector: PROFILE ? await connectDenoInspector(inspectPort) : undefined,
        busyUs: 0,
        selfUs: new Map(),
        profiledRequests: 0,
      });
    }
  }
  const url = `http://127.0.0.1:${origin.http}/1k`;
  /** One measured turn of the runners in `group`, all at once, sharing (a)'s load. */
  const turn = async (group: Runner[]) => {
    const load = group.length === 1
      ? { threads: 2, connections: 50 }
      : { threads: 1, connections: Math.round(50 / group.length) };
    // A second of load first, not measured: through the others' turns a runner sits idle
    // long enough for snoop's idle collection (full GC, malloc_trim), and a turn that
    // starts cold measures the heap growing back, not recording.
    await Promise.all(group.map((r) => wrk(url, 1, dir, r.port, load)));
    const cpu = group.map((r) => cpuSeconds(r.proc.pid));
    const endpointCpu = cpuSeconds(endpoint.proc.pid);
    const traced = await Promise.all(
      group.map(async (r) => GC ? (await Deno.stat(r.gcLog)).size : 0),
    );
    const results = await Promise.all(group.map(async (r) => {
      const measure = () => wrk(url, SECONDS, dir, r.port, load);
      if (!r.inspector) return await measure();
      const [profile, w] = await profileDuring(r.inspector, measure);
      const { busyUs, selfUs } = summarizeProfile(profile);
      r.busyUs += busyUs;
      r.profiledRequests += w.requests;
      for (const [name, us] of selfUs) r.selfUs.set(name, (r.selfUs.get(name) ?? 0) + us);
      return w;
    }));
    const requests = results.reduce((sum, w) => sum + w.requests, 0);
    const endpointUs = ((cpuSeconds(endpoint.proc.pid) - endpointCpu) * 1e6) / requests;
    for (const [i, r] of group.entries()) {
      const w = results[i];
      if (GC) {
        const trace = await traceSince(r.gcLog, traced[i]);
        r.gc.push(perTenThousand(summarizeGcTrace(trace), w.requests));
      }
      r.rps.push(w.rps);
      r.p99.push(w.p99);
      r.cpuUs.push(((cpuSeconds(r.proc.pid) - cpu[i]) * 1e6) / w.requests);
      r.endpointUs.push(endpointUs);
    }
  };
  const groups = TOGETHER
    ? MODES.map((mode) => runners.filter((r) => r.mode === mode))
    : runners.map((r) => [r]);
  for (let round = 0; round < ROUNDS; round++) {
    // Every other round in reverse (A B C, C B A, ...), so no runner always goes first
    // after the others' turns. Even so, one build run twice side by side differed by 3–4%
    // in CPU per request here: read smaller differences as noise.
    for (const group of round % 2 === 0 ? groups : groups.toReversed()) await turn(group);
  }
  console.log(
    `\n### recording: (a)'s load, ${ROUNDS} rounds of ${SECONDS} s, ${
      TOGETHER
        ? "the builds of a mode at once (wrk -t1 each, 50 connections split)"
        : "taken in turn"
    }, medians\n`,
  );
  console.log(
    "| snoop | req/s | vs off | p99 ms | snoop CPU µs/req | endpoint CPU µs/req |\n|---|---:|---:|---:|---:|---:|",
  );
  for (const r of runners) {
    const off = runners.find((o) => o.mode === "off" && o.build === r.build);
    const vsOff = off ? `${((median(r.rps) / median(off.rps)) * 100).toFixed(0)}%` : "—";
    console.log(
      `| ${r.label} | ${median(r.rps).toFixed(0)} | ${vsOff} | ${median(r.p99).toFixed(2)} | ${
        median(r.cpuUs).toFixed(1)
      } | ${r.mode === "http" || r.mode === "batch" ? median(r.endpointUs).toFixed(1) : "—"} |`,
    );
  }
  if (BUILDS.length > 1) {
    // Paired by round: the two builds' turns of one round are seconds apart, so the ratio
    // of each pair cancels most of the machine's drift, which the medians above do not.
    console.log(
      `\n### A/B: the other builds against this checkout, paired by round, median of the ratios\n`,
    );
    console.log(
      "| build | mode | CPU µs/req ratio | its range | req/s ratio | rounds where CPU was lower |\n|---|---|---:|---|---:|---:|",
    );
    for (const r of runners.filter((r) => r.build > 0)) {
      const base = runners.find((o) => o.build === 0 && o.mode === r.mode)!;
      const cpu = r.cpuUs.map((x, i) => x / base.cpuUs[i]);
      const rps = r.rps.map((x, i) => x / base.rps[i]);
      console.log(
        `| ${BUILDS[r.build]} | ${r.mode} | ${median(cpu).toFixed(3)} | ${
          Math.min(...cpu).toFixed(2)
        }–${Math.max(...cpu).toFixed(2)} | ${median(rps).toFixed(3)} | ${
          cpu.filter((x) => x < 1).length
        } of ${cpu.length} |`,
      );
    }
  }
  if (GC) {
    console.log(
      `\n### garbage collection per 10,000 requests (--trace-gc-nvp), medians of the turns\n`,
    );
    console.log(
      "| snoop | scavenges | their pauses ms | survived MB | promoted MB | mark-compacts | their pauses ms |\n|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const r of runners) {
      const m = (f: (g: GcSummary) => number, digits: number) =>
        median(r.gc.map(f)).toFixed(digits);
      console.log(
        `| ${r.label} | ${m((g) => g.scavenges, 1)} | ${m((g) => g.scavengeMs, 1)} | ${
          m((g) => g.survivedBytes / 1e6, 2)
        } | ${m((g) => g.promotedBytes / 1e6, 2)} | ${m((g) => g.markCompacts, 2)} | ${
          m((g) => g.markCompactMs, 1)
        } |`,
      );
    }
  }
  for (const r of runners) r.inspector?.close();
  if (PROFILE) printProfiles(runners);
} finally {
  for (const p of procs.reverse()) await p.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** The trace written since byte `from` (the turn's). */
async function traceSince(file: string, from: number): Promise<string> {
  const bytes = await Deno.readFile(file);
  return new TextDecoder().decode(bytes.subarray(from));
}

/** A turn's collections scaled to 10,000 requests. */
function perTenThousand(g: GcSummary, requests: number): GcSummary {
  const k = 10_000 / requests;
  return {
    scavenges: g.scavenges * k,
    scavengeMs: g.scavengeMs * k,
    survivedBytes: g.survivedBytes * k,
    promotedBytes: g.promotedBytes * k,
    markCompacts: g.markCompacts * k,
    markCompactMs: g.markCompactMs * k,
    unparsed: g.unparsed,
  };
}

/**
 * `--profile`: each runner's busy time per request from its turns' CPU profiles, and where
 * a recording mode spends more than `off` of its build, function by function (own time).
 */
function printProfiles(runners: Runner[]) {
  const perRequest = (r: Runner, us: number) => us / r.profiledRequests;
  console.log(`\n### CPU profiles of the measured turns (V8 sampling, own time per request)\n`);
  console.log("| snoop | busy µs/req | requests profiled |\n|---|---:|---:|");
  for (const r of runners) {
    console.log(
      `| ${r.label} | ${perRequest(r, r.busyUs).toFixed(2)} | ${r.profiledRequests} |`,
    );
  }
  for (const r of runners.filter((r) => r.mode !== "off")) {
    const off = runners.find((o) => o.mode === "off" && o.build === r.build);
    const names = new Set([...r.selfUs.keys(), ...(off?.selfUs.keys() ?? [])]);
    const rows = [...names].map((name) => {
      const mine = perRequest(r, r.selfUs.get(name) ?? 0);
      const base = off ? perRequest(off, off.selfUs.get(name) ?? 0) : 0;
      return { name, mine, base, more: mine - base };
    }).sort((a, b) => b.more - a.more).slice(0, 20);
    console.log(
      `\n${r.label}: the 20 functions with the most own time per request${
        off ? " above off" : ""
      }\n`,
    );
    console.log("| function | µs/req | off µs/req | more |\n|---|---:|---:|---:|");
    for (const x of rows) {
      console.log(
        `| ${x.name.replaceAll("|", "\\|")} | ${x.mine.toFixed(2)} | ${x.base.toFixed(2)} | ${
          x.more.toFixed(2)
        } |`,
      );
    }
  }
}
