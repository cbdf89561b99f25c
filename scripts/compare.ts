/**
 * snoop side by side with squid, tinyproxy, mitmproxy's mitmdump and the direct path, measured
 * the same way in one run. Everything listens on 127.0.0.1; nginx is the origin (and
 * the sink of snoop's http recorder); wrk drives plain HTTP; curl downloads; the MITM load is
 * scripts/lib/mitm_load.ts (node:tls in Deno: the same generator for every proxy).
 *
 *   deno task bench compare              installs missing Debian packages (root), ~10 minutes
 *   deno task bench compare --quick      1 repeat, 3 s runs, 1,000 idle tunnels (else 9,000)
 *   deno task bench compare --sections e only the memory section (any of a–f)
 *   deno task bench compare --pin        (a) and (f) with each proxy on CPU 0 and nginx and
 *                                        wrk on CPU 1, as a proxy on a core of its own would
 *                                        run; the other sections are not pinned
 *   deno task bench compare --repeats N  rounds of (a), (f) and the direct path (default 3);
 *                                        `--sections f` alone runs only the snoops, so many
 *                                        rounds of it are affordable
 *
 * Prints Markdown tables; docs/benchmarks.md's "Side by side" section shows one run.
 */
import { parseArgs } from "node:util";
import { makeCertificates } from "./lib/certs.ts";
import { connectTunnel, http1Load, http2Load, type LoadResult } from "./lib/mitm_load.ts";
import { median, percentile } from "./lib/stats.ts";
import { startNginx } from "./lib/nginx_origin.ts";
import { wrk, type WrkLoad, type WrkResult } from "./lib/wrk.ts";
import { SNOOP_V8_FLAGS } from "./lib/v8_flags.ts";
import { startSquid as startSquidIn } from "./lib/squid.ts";
import {
  cpuSeconds,
  freePort,
  output,
  type Proc,
  rssMiB,
  setAffinity,
  spawn,
  startFloorRelay,
  startTcpHolder,
  waitForPort,
} from "./lib/processes.ts";
import type net from "node:net";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "compare"),
  options: {
    quick: { type: "boolean", default: false },
    sections: { type: "string", default: "abcdef" },
    pin: { type: "boolean", default: false },
    repeats: { type: "string" },
  },
});
const REPEATS = values.repeats ? Number(values.repeats) : values.quick ? 1 : 3;
if (!Number.isInteger(REPEATS) || REPEATS < 1) {
  console.error(`--repeats wants a whole number ≥ 1, got ${values.repeats}`);
  Deno.exit(2);
}
const SECONDS = values.quick ? 3 : 8;
// Each idle tunnel costs a proxy two descriptors, and this machine's hard RLIMIT_NOFILE is
// 20,000 (not raisable here): 10,000 tunnels failed just short for every proxy.
const MANY_TUNNELS = values.quick ? 1000 : 9000;
const run = (section: string) => values.sections.includes(section);
const PIN = values.pin;
/**
 * (a) at the same load: each connection's pause before a request. 8 ms keeps the offered
 * rate (at most 50 / 8 ms = 6,250 requests/s) below squid's saturation here (8,000-11,000).
 */
const PAUSE_MS = 8;
if (PIN && navigator.hardwareConcurrency < 2) {
  console.error("--pin needs two CPUs: the proxies on one, nginx and wrk on the other");
  Deno.exit(2);
}
/** With --pin: where the proxies run, where the load and the origin run, and all CPUs. */
const PROXY_CPU = "0", LOAD_CPU = "1", ALL_CPUS = `0-${navigator.hardwareConcurrency - 1}`;

const NEEDED: Record<string, string> = {
  nginx: "nginx-light",
  wrk: "wrk",
  squid: "squid",
  tinyproxy: "tinyproxy",
  mitmdump: "mitmproxy",
  openssl: "openssl",
  curl: "curl",
};

async function ensurePackages() {
  const missing = Object.entries(NEEDED).filter(([bin]) =>
    !["/usr/bin", "/usr/sbin", "/bin", "/sbin"].some((d) => {
      try {
        return Deno.statSync(`${d}/${bin}`).isFile;
      } catch {
        return false;
      }
    })
  ).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  console.error(`installing ${missing.join(" ")} (apt-get)…`);
  await output("apt-get", ["update", "-qq"]);
  await output("apt-get", ["install", "-y", "-qq", ...missing]);
}

const dir = await Deno.makeTempDir({ prefix: "snoop-compare-" });
await Deno.chmod(dir, 0o777); // squid and nginx workers drop to unprivileged users

async function makeCerts() {
  await makeCertificates(dir, "compare CA");
  // nginx's and squid's workers run unprivileged; the CA key stays 0600 (snoop reads it).
  for (const f of ["ca.crt", "origin.key", "origin.crt"]) await Deno.chmod(`${dir}/${f}`, 0o644);
}

interface Proxy {
  name: string;
  port: number;
  proc: Proc;
  /** The CA a client must trust for this proxy's interception. */
  mitmCA?: string;
}

async function startSquid(): Promise<Proxy> {
  return { name: "squid", ...await startSquidIn(dir) };
}

async function startTinyproxy(): Promise<Proxy> {
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/tinyproxy.conf`,
    `Port ${port}
Listen 127.0.0.1
Timeout 600
MaxClients 20000
Allow 127.0.0.1
DisableViaHeader Yes
LogLevel Critical
PidFile "${dir}/tinyproxy.pid"
`,
  );
  const proc = spawn("tinyproxy", ["-d", "-c", `${dir}/tinyproxy.conf`]);
  await waitForPort(port, proc.log);
  return { name: "tinyproxy", port, proc };
}

async function startMitmdump(intercept: boolean): Promise<Proxy> {
  const port = freePort();
  const confdir = `${dir}/mitmproxy`;
  const args = [
    "--listen-host",
    "127.0.0.1",
    "--listen-port",
    String(port),
    "-q",
    "--set",
    `confdir=${confdir}`,
    "--set",
    `ssl_verify_upstream_trusted_ca=${dir}/ca.crt`,
  ];
  if (!intercept) args.push("--ignore-hosts", ".*");
  const proc = spawn("mitmdump", args);
  await waitForPort(port, proc.log, 30_000);
  return {
    name: intercept ? "mitmdump (intercepting)" : "mitmdump",
    port,
    proc,
    mitmCA: intercept ? await Deno.readTextFile(`${confdir}/mitmproxy-ca-cert.pem`) : undefined,
  };
}

/** snoop as users run it: `deno run` of mod.ts with a config file. */
async function startSnoop(
  name: string,
  opts: { sniffing: boolean; recorder?: string; batch?: number; mitm?: boolean },
): Promise<Proxy> {
  const port = freePort();
  const md: string[] = [];
  if (opts.sniffing) md.push("sniffing: true");
  if (opts.mitm) {
    md.push(`mitm.certFile: ${dir}/ca.crt`, `mitm.keyFile: ${dir}/ca.key`);
    md.push(`mitm.upstreamCA: ${dir}/ca.crt`, "mitm.insecure: true");
  }
  const config = `
services:
  - name: bench
    addr: 127.0.0.1:${port}
    ${opts.recorder ? "recorders: [{ name: hook }]" : ""}
    handler:
      type: http
      metadata: { maxConnectionsPerClient: 0, maxConnections: 0${
    md.length ? ", " + md.join(", ") : ""
  } }
${
    opts.recorder
      ? `recorders:\n  - { name: hook, http: { url: "${opts.recorder}", batch: ${
        opts.batch ?? 0
      } } }`
      : ""
  }
`;
  const file = `${dir}/snoop-${port}.yaml`;
  await Deno.writeTextFile(file, config);
  // The V8 settings snoop ships with, then SNOOP_BENCH_V8_FLAGS to try others (heap sizes,
  // GC) on snoop alone, e.g. SNOOP_BENCH_V8_FLAGS=--max-semi-space-size=32 (a later flag
  // wins).
  const v8Flags = [SNOOP_V8_FLAGS, Deno.env.get("SNOOP_BENCH_V8_FLAGS")].filter(Boolean).join(",");
  const proc = spawn(Deno.execPath(), [
    "run",
    "--allow-all",
    `--v8-flags=${v8Flags}`,
    new URL("../mod.ts", import.meta.url).pathname,
    "-C",
    file,
  ]);
  await waitForPort(port, proc.log);
  return {
    name,
    port,
    proc,
    mitmCA: opts.mitm ? await Deno.readTextFile(`${dir}/ca.crt`) : undefined,
  };
}

/**
 * What the runtime costs with nothing of snoop's: scripts/lib/floor_relay.ts, a Deno relay
 * that copies bytes and nothing else (reads growing to 256 KiB, as snoop's relay's do).
 * Not a proxy anyone would run; it marks the least snoop's figures could be in Deno.
 */
async function startFloor(): Promise<Proxy> {
  const { port, proc } = await startFloorRelay(256 * 1024);
  return { name: FLOOR, port, proc };
}
const FLOOR = "Deno floor (relay only)";
const BATCHED = "snoop (sniffing + http recorder, batch: 100)";

interface RateResult {
  rps: number;
  p50: number;
  p99: number;
  cpuUs: number;
  errors: number;
  /** Each round's req/s, in round order: for ratios paired by round. */
  roundsRps: number[];
}

/**
 * `a`'s req/s over `b`'s, paired by round (the median of the rounds' ratios, and their
 * range): the two turns of a round are seconds apart, so each ratio cancels most of the
 * machine's drift (tens of percent over minutes here), which a ratio of medians does not.
 */
function pairedRatio(a: RateResult, b: RateResult): { median: number; min: number; max: number } {
  const ratios = a.roundsRps.map((rps, i) => rps / b.roundsRps[i]);
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

/** wrk on the direct path, REPEATS runs, medians. */
async function directMedians(url: string, load: WrkLoad) {
  const runs: WrkResult[] = [];
  for (let i = 0; i < REPEATS; i++) runs.push(await wrk(url, SECONDS, dir, undefined, load));
  const pick = (k: "rps" | "p50" | "p99") => median(runs.map((r) => r[k]));
  return { rps: pick("rps"), p50: pick("p50"), p99: pick("p99") };
}

/**
 * wrk through each proxy, REPEATS rounds, medians; the proxy's CPU per request from /proc.
 * Round-robin, not one proxy's repeats in a row: the machine's speed drifts over minutes,
 * and ratios within a run should not depend on who ran when.
 */
async function roundRobin(
  proxies: Proxy[],
  url: string,
  load: WrkLoad,
): Promise<Map<string, RateResult>> {
  const runsOf = new Map(proxies.map((p) => [p.name, [] as (WrkResult & { cpuUs: number })[]]));
  for (let i = 0; i < REPEATS; i++) {
    for (const p of proxies) {
      // Each proxy sat idle through the others' turns: long enough for snoop's idle
      // collection to give its heap back. One second of load first, not measured, so
      // every turn measures a warm process (as under steady load).
      await wrk(url, 1, dir, p.port, load);
      const cpu0 = cpuSeconds(p.proc.pid);
      const r = await wrk(url, SECONDS, dir, p.port, load);
      const cpu = cpuSeconds(p.proc.pid) - cpu0;
      runsOf.get(p.name)!.push({ ...r, cpuUs: (cpu * 1e6) / r.requests });
    }
  }
  const results = new Map<string, RateResult>();
  for (const [name, runs] of runsOf) {
    const pick = (k: "rps" | "p50" | "p99" | "cpuUs") => median(runs.map((r) => r[k]));
    results.set(name, {
      rps: pick("rps"),
      p50: pick("p50"),
      p99: pick("p99"),
      cpuUs: pick("cpuUs"),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      roundsRps: runs.map((r) => r.rps),
    });
  }
  return results;
}

/** Waits (up to 60 s) until `proc` uses less than 5% of a core over half a second. */
async function untilQuiet(proc: Proc): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let before = cpuSeconds(proc.pid); Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 500));
    const now = cpuSeconds(proc.pid);
    if (now - before < 0.025) return;
    before = now;
  }
}

/** MB/s of one curl download; 0 when it fails or passes the 60 s bound (mitmdump buffers). */
async function curlSpeed(args: string[]): Promise<number> {
  const out = await new Deno.Command("curl", {
    args: [
      "-s",
      "-o",
      "/dev/null",
      "--max-time",
      "60",
      "-w",
      "%{speed_download} %{size_download}",
      ...args,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const [speed, size] = new TextDecoder().decode(out.stdout).split(" ").map(Number);
  return out.success && size === 100 * 1024 * 1024 ? speed / 1e6 : 0;
}

async function main() {
  await ensurePackages();
  await makeCerts();
  const origin = await startNginx(dir);
  const url1k = `http://127.0.0.1:${origin.http}/1k`;
  // The far end of (e)'s idle tunnels: nginx's connection limit answered 502 near 10,000.
  const holder = await startTcpHolder();
  const procs: Proc[] = [origin.proc, holder.proc];
  const rows: Record<string, string[]> = { a: [], paced: [], b: [], c: [], d: [], e: [], f: [] };
  try {
    const proxies: Proxy[] = [];
    const start = async (p: Promise<Proxy>) => {
      const proxy = await p;
      procs.push(proxy.proc);
      proxies.push(proxy);
      return proxy;
    };
    const squid = await start(startSquid());
    const tiny = await start(startTinyproxy());
    const mitmdump = await start(startMitmdump(false));
    const mitmdumpI = await start(startMitmdump(true));
    const snoopOff = await start(
      startSnoop("snoop (no sniffing, no recorder)", { sniffing: false }),
    );
    const snoopOn = await start(
      startSnoop("snoop (sniffing + http recorder)", {
        sniffing: true,
        recorder: `http://127.0.0.1:${origin.http}/rec`,
      }),
    );
    // snoop's own option: a JSON array of up to 100 records per POST (GOST posts one each).
    const snoopBatch = await start(
      startSnoop(BATCHED, {
        sniffing: true,
        recorder: `http://127.0.0.1:${origin.http}/rec`,
        batch: 100,
      }),
    );
    const snoopDown = await start(
      startSnoop("snoop (sniffing + recorder down)", {
        sniffing: true,
        recorder: `http://127.0.0.1:${freePort()}/rec`,
      }),
    );
    const snoopMitm = await start(
      startSnoop("snoop (intercepting)", { sniffing: true, mitm: true }),
    );
    const floor = await start(startFloor());
    const idleRss = new Map(proxies.map((p) => [p.name, rssMiB(p.proc.pid)]));
    const idleAnon = new Map(proxies.map((p) => [p.name, rssMiB(p.proc.pid, "RssAnon")]));

    // (a) plain HTTP forward proxy, and (f) recording.
    if (run("a") || run("f")) {
      // The other proxies and the floor belong to (a) only: (f) compares snoop with itself.
      const plain = [
        ...run("a") ? [squid, tiny, mitmdump] : [],
        snoopOff,
        snoopOn,
        snoopBatch,
        snoopDown,
        ...run("a") ? [floor] : [],
      ];
      const load = { cpus: PIN ? LOAD_CPU : undefined };
      if (PIN) {
        for (const p of plain) await setAffinity(p.proc, PROXY_CPU);
        await setAffinity(origin.proc, LOAD_CPU);
      }
      const direct = run("a") ? await directMedians(url1k, load) : undefined;
      const aResults = await roundRobin(plain, url1k, load);
      if (direct) {
        const directRps = direct.rps;
        rows.a.push(
          `| direct (no proxy) | ${directRps.toFixed(0)} | 100% | ${direct.p50.toFixed(2)} | ${
            direct.p99.toFixed(2)
          } | — |`,
        );
        const squidRps = aResults.get("squid")!.rps;
        for (const [name, r] of aResults) {
          rows.a.push(
            `| ${name} | ${r.rps.toFixed(0)} | ${(100 * r.rps / directRps).toFixed(0)}% direct, ${
              (100 * r.rps / squidRps).toFixed(0)
            }% squid | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuUs.toFixed(0)} |`,
          );
        }
      }
      const off = aResults.get(snoopOff.name)!,
        on = aResults.get(snoopOn.name)!,
        batched = aResults.get(snoopBatch.name)!,
        down = aResults.get(snoopDown.name)!;
      rows.f.push(`| recording off | ${off.rps.toFixed(0)} | 100% | 100% | — | ${off.errors} |`);
      for (
        const [label, r] of [
          ["sniffing + http recorder", on],
          ["sniffing + http recorder, batch: 100", batched],
          ["sniffing + recorder down", down],
        ] as const
      ) {
        const paired = pairedRatio(r, off);
        const percent = (x: number) => `${(100 * x).toFixed(0)}%`;
        rows.f.push(
          `| ${label} | ${r.rps.toFixed(0)} | ${percent(r.rps / off.rps)} | ${
            percent(paired.median)
          } | ${percent(paired.min)}–${percent(paired.max)} | ${r.errors} |`,
        );
      }
      // The same load for everyone: latency compared at one request rate (each proxy's
      // p99 above is at its own saturation, where the faster proxy also drives nginx and
      // wrk harder on the same two cores).
      if (run("a")) {
        const paced = { ...load, pauseMs: PAUSE_MS };
        const d = await directMedians(url1k, paced);
        rows.paced.push(
          `| direct (no proxy) | ${d.rps.toFixed(0)} | ${d.p50.toFixed(2)} | ${
            d.p99.toFixed(2)
          } | — |`,
        );
        for (const [name, r] of await roundRobin(plain, url1k, paced)) {
          rows.paced.push(
            `| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${
              r.cpuUs.toFixed(0)
            } |`,
          );
        }
      }
      if (PIN) {
        for (const p of [...plain, origin]) await setAffinity(p.proc, ALL_CPUS);
      }
    }

    // (b) bulk: 100 MiB through a CONNECT tunnel (TLS passthrough) and the plain forward path.
    if (run("b")) {
      const tlsUrl = `https://127.0.0.1:${origin.https}/100m`;
      const plainUrl = `http://127.0.0.1:${origin.http}/100m`;
      const direct = { tls: [] as number[], plain: [] as number[] };
      // Each proxied download right after a direct one, and the ratio taken per pair: the
      // machine's speed drifts by tens of percent over minutes, less over a second.
      const paired = async (
        directArgs: string[],
        proxiedArgs: string[],
        into: number[],
        proc?: Proc,
      ) => {
        const speeds = [], ratios = [], cpuMs = [];
        for (let i = 0; i < REPEATS; i++) {
          const d = await curlSpeed(directArgs);
          into.push(d);
          const cpu0 = proc ? cpuSeconds(proc.pid) : 0;
          const t = await curlSpeed(proxiedArgs);
          if (proc) cpuMs.push((cpuSeconds(proc.pid) - cpu0) * 1000);
          speeds.push(t);
          ratios.push(d > 0 ? t / d : 0);
        }
        return { speed: median(speeds), ratio: median(ratios), cpuMs: median(cpuMs) };
      };
      const rowsOfProxies: string[] = [];
      for (const p of [squid, tiny, mitmdump, snoopOff, snoopOn, floor]) {
        const proxy = ["-x", `127.0.0.1:${p.port}`];
        const t = await paired(
          ["--cacert", `${dir}/ca.crt`, tlsUrl],
          ["-p", ...proxy, "--cacert", `${dir}/ca.crt`, tlsUrl],
          direct.tls,
          p.proc,
        );
        const f = await paired([plainUrl], [...proxy, plainUrl], direct.plain);
        // mitmdump buffers a whole response on the plain forward path and goes on with it
        // after curl gave up at 60 s: the next proxy's downloads (snoop's, right after) ran
        // on a machine it was still using.
        await untilQuiet(p.proc);
        rowsOfProxies.push(
          `| ${p.name} | ${t.speed.toFixed(0)} | ${(100 * t.ratio).toFixed(0)}% | ${
            t.cpuMs.toFixed(0)
          } | ${f.speed.toFixed(0)} | ${(100 * f.ratio).toFixed(0)}% |`,
        );
      }
      rows.b.push(
        `| direct (no proxy) | ${median(direct.tls).toFixed(0)} | 100% | — | ${
          median(direct.plain).toFixed(0)
        } | 100% |`,
        ...rowsOfProxies,
      );
    }

    // (c) MITM HTTPS: 50 HTTP/1.1 clients, and 50 streams over HTTP/2 (5 × 10).
    if (run("c")) {
      for (const p of [mitmdumpI, snoopMitm]) {
        const t = {
          proxyPort: p.port,
          target: `127.0.0.1:${origin.https}`,
          servername: "localhost",
          ca: p.mitmCA!,
          responseBytes: 1024 + 150,
        };
        const h1: LoadResult[] = [], h2: LoadResult[] = [];
        await http1Load(t, 50, 1); // warm-up, not measured (see (a))
        for (let i = 0; i < REPEATS; i++) {
          h1.push(await http1Load(t, 50, SECONDS));
          h2.push(await http2Load(t, 5, 10, SECONDS));
        }
        const rate = (rs: typeof h1) => median(rs.map((r) => r.requests / r.seconds));
        const p99 = (rs: typeof h1) => median(rs.map((r) => percentile(r.latenciesMs, 0.99)));
        rows.c.push(
          `| ${p.name} | ${rate(h1).toFixed(0)} | ${p99(h1).toFixed(1)} | ${
            rate(h2).toFixed(0)
          } | ${p99(h2).toFixed(1)} |`,
        );
      }
    }

    // (d) a new host under MITM: first request for a never-seen server name against a repeat.
    if (run("d")) {
      for (const p of [mitmdumpI, snoopMitm]) {
        const first: number[] = [], repeat: number[] = [];
        for (let i = 0; i < 20; i++) {
          const name = `new-${i}-${crypto.randomUUID().slice(0, 8)}.localhost`;
          for (const into of [first, repeat]) {
            const t0 = performance.now();
            await http1Load(
              {
                proxyPort: p.port,
                target: `127.0.0.1:${origin.https}`,
                servername: name,
                ca: p.mitmCA!,
                responseBytes: 1024 + 150,
              },
              1,
              0.001,
            );
            into.push(performance.now() - t0);
          }
        }
        rows.d.push(
          `| ${p.name} | ${median(first).toFixed(1)} | ${median(repeat).toFixed(1)} | ${
            (median(first) - median(repeat)).toFixed(1)
          } |`,
        );
      }
    }

    // (e) memory: idle, with 1,000 and MANY_TUNNELS idle CONNECT tunnels, after they close.
    if (run("e")) {
      for (const p of [squid, tiny, mitmdump, snoopOn]) {
        const idle = idleRss.get(p.name)!;
        const held: net.Socket[] = [];
        const cells: string[] = [];
        for (const n of [1000, MANY_TUNNELS]) {
          try {
            while (held.length < n) {
              const batch = await Promise.allSettled(
                Array.from(
                  { length: Math.min(200, n - held.length) },
                  () => connectTunnel(p.port, `127.0.0.1:${holder.port}`),
                ),
              );
              for (const r of batch) if (r.status === "fulfilled") held.push(r.value);
              const failed = batch.find((r) => r.status === "rejected");
              if (failed) throw (failed as PromiseRejectedResult).reason;
            }
          } catch (e) {
            cells.push(
              `failed at ${held.length}: ${String((e as Error).message).split(/\r?\n/)[0]}`,
            );
            continue;
          }
          await new Promise((r) => setTimeout(r, 1000));
          const rss = rssMiB(p.proc.pid);
          cells.push(`${rss.toFixed(0)} (${(((rss - idle) * 1024) / n).toFixed(1)} KiB each)`);
        }
        for (const s of held) s.destroy();
        await new Promise((r) => setTimeout(r, 5000));
        const after = rssMiB(p.proc.pid);
        // V8 gives its heap back when its memory reducer runs, ~30 s after the last big
        // collection (--gc-memory-reducer-start-delay-ms): 5 s is too early to see it.
        await new Promise((r) => setTimeout(r, 30_000));
        const later = rssMiB(p.proc.pid), laterAnon = rssMiB(p.proc.pid, "RssAnon");
        rows.e.push(
          `| ${p.name} | ${idle.toFixed(0)} (${idleAnon.get(p.name)!.toFixed(1)}) | ${
            cells.join(" | ")
          } | ${after.toFixed(0)} | ${later.toFixed(0)} (${laterAnon.toFixed(1)}) |`,
        );
      }
    }
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const cpus = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ??
    "?";
  console.log(
    `\n### Side by side (${navigator.hardwareConcurrency} × ${cpus}, ${REPEATS} repeats of ${SECONDS} s, medians)\n`,
  );
  console.log(
    `(a) plain HTTP forward proxy, 1 KiB responses, wrk -t2 -c50, absolute-URI requests${
      PIN ? "; pinned: each proxy on CPU 0, nginx and wrk on CPU 1 (so direct has one core)" : ""
    }\n`,
  );
  console.log(
    "| proxy | req/s | ratio | p50 ms | p99 ms | proxy CPU µs/req |\n|---|---:|---|---:|---:|---:|",
  );
  rows.a.forEach((r) => console.log(r));
  console.log(
    `\n(a) at the same load: each of wrk's 50 connections pauses ${PAUSE_MS} ms before each request\n`,
  );
  console.log("| proxy | req/s | p50 ms | p99 ms | proxy CPU µs/req |\n|---|---:|---:|---:|---:|");
  rows.paced.forEach((r) => console.log(r));
  console.log(
    "\n(b) 100 MiB download, curl; each proxied download right after a direct one, vs direct = median of those pairs' ratios\n",
  );
  console.log(
    "| path | CONNECT tunnel, TLS passthrough MB/s | vs direct | proxy CPU ms per download | plain forward MB/s | vs direct |\n|---|---:|---:|---:|---:|---:|",
  );
  rows.b.forEach((r) => console.log(r));
  console.log("\n(c) intercepted HTTPS, 1 KiB responses (node:tls load generator in Deno)\n");
  console.log(
    "| proxy | HTTP/1.1 50 clients req/s | p99 ms | HTTP/2 50 streams req/s | p99 ms |\n|---|---:|---:|---:|---:|",
  );
  rows.c.forEach((r) => console.log(r));
  console.log(
    "\n(d) first request to a never-seen host under MITM (tunnel + TLS + GET), median of 20\n",
  );
  console.log("| proxy | new host ms | repeat ms | extra ms |\n|---|---:|---:|---:|");
  rows.d.forEach((r) => console.log(r));
  console.log(
    `\n(e) RSS MiB (process tree): idle, 1,000 and ${
      MANY_TUNNELS.toLocaleString("en")
    } idle CONNECT tunnels, 5 s and 35 s after they close; in brackets the anonymous part (RssAnon:\nheaps and stacks; the rest is mapped files, such as the executable, and shared memory)\n`,
  );
  console.log(
    `| proxy | idle | 1,000 tunnels | ${
      MANY_TUNNELS.toLocaleString("en")
    } tunnels | 5 s after | 35 s after |\n|---|---:|---:|---:|---:|---:|`,
  );
  rows.e.forEach((r) => console.log(r));
  console.log(
    `\n(f) recording cost, (a)'s load through snoop${PIN ? " (pinned as in (a))" : ""}\n`,
  );
  console.log(
    "| snoop | req/s | vs off (medians) | vs off (paired by round, median) | the rounds' range | failed requests |\n|---|---:|---:|---:|---|---:|",
  );
  rows.f.forEach((r) => console.log(r));
}

await main();
