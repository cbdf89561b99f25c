/**
 * Benchmarks (loopback only, bounded in time). `deno task bench [scenario...]`
 *
 *   relay    bulk TCP throughput: direct, through snoop's tcp forwarder, with sniffing on,
 *            and through an HTTP CONNECT tunnel; snoop runs as its own process.
 *   copy     the copy loop alone, in-process: read/write loop vs ReadableStream.pipeTo.
 *   requests plain HTTP forward proxy: requests/s and latency over keep-alive connections.
 *   certs    new-host certificate issuance p50/p99 and the longest event-loop stall.
 *   mitm     intercepted HTTPS: requests/s and p99 over HTTP/1.1 (50 keep-alive clients)
 *            and HTTP/2 (50 concurrent streams on 5 connections).
 *   store    one million records into the SQLite store in batches, then filtered queries
 *            and aggregates over them.
 *   compare  squid, tinyproxy, mitmdump and snoop side by side (scripts/compare.ts).
 *   tunnels  RSS per idle CONNECT tunnel, snoop next to a minimal Deno relay
 *            (scripts/idle_tunnels.ts; `--count N`, default 2,000).
 *   recording  what recording costs, by recorder, all modes running side by side
 *            (scripts/recording_cost.ts; `--builds DIR` adds another checkout: an A/B).
 *   hotpath  per-request work in a loop, in-process: parsing the heads of (a)'s load and
 *            turning its record into JSON (scripts/hot_path.ts).
 *   mainjob  the main job (store + UI) next to the bare forward path and squid, pinned, and
 *            with `--sustained SECONDS` alone at a fixed rate (scripts/mainjob.ts).
 *   collect  `snoop collect` fed by an edge snoop at full rate and by pre-built batches, into
 *            SQLite and (`--pg URL`) PostgreSQL: stored/s, 503s, lost (scripts/collect.ts).
 *   pageout  RSS after idle tunnels closed, anonymous and file-backed, and what paging out
 *            the executable gives back and costs the next tunnel (scripts/pageout.ts).
 *
 * Prints a Markdown table per scenario with the machine it ran on.
 */
import process from "node:process";
import { relay } from "../src/tunnel/relay.ts";
import { CertificateAuthority } from "../src/mitm/ca.ts";
import { LeafIssuer } from "../src/mitm/leaf_issuer.ts";
import { RecordStore } from "../src/store/record_store.ts";
import { PgRecordStore } from "../src/store/pg_store.ts";
import { http1Load, http2Load, type LoadResult } from "./lib/mitm_load.ts";
import { median, percentile } from "./lib/stats.ts";
import { freePort, machine, waitForPort } from "./lib/processes.ts";

const MiB = 1024 * 1024;
const encoder = new TextEncoder();

/** A server that sends `bytes` to every connection, then closes. */
function startSource(bytes: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        try {
          // An HTTP CONNECT client sends nothing before reading; plain clients neither.
          let left = bytes;
          while (left > 0) {
            const n = await conn.write(left >= chunk.length ? chunk : chunk.subarray(0, left));
            left -= n;
          }
        } catch { /* client went away */ }
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close(), serving };
}

/** Connects (optionally through CONNECT) and reads until EOF; returns MB/s. */
async function download(port: number, connectTo?: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buf = new Uint8Array(256 * 1024);
  if (connectTo) {
    await conn.write(encoder.encode(`CONNECT 127.0.0.1:${connectTo} HTTP/1.1\r\nHost: x\r\n\r\n`));
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("CONNECT failed");
      head += new TextDecoder().decode(buf.subarray(0, n));
    }
  }
  const start = performance.now();
  let total = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    total += n;
  }
  const secs = (performance.now() - start) / 1000;
  conn.close();
  return total / MiB / secs;
}

function spawnSnoop(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "mod.ts", ...args],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function relayScenario() {
  const size = 256 * MiB;
  const rounds = 3;
  const source = startSource(size);
  const rows: [string, number][] = [];
  const measure = async (name: string, port: number, connectTo?: number) => {
    const runs: number[] = [];
    for (let i = 0; i < rounds; i++) runs.push(await download(port, connectTo));
    rows.push([name, median(runs)]);
  };
  await measure("direct (no proxy)", source.port);
  for (
    const [name, url, connect] of [
      ["snoop tcp forward", `tcp://127.0.0.1:PORT/127.0.0.1:${source.port}`, false],
      [
        "snoop tcp forward, sniffing on",
        `tcp://127.0.0.1:PORT/127.0.0.1:${source.port}?sniffing=true`,
        false,
      ],
      ["snoop http CONNECT, sniffing on", `http://127.0.0.1:PORT?sniffing=true`, true],
    ] as const
  ) {
    const port = freePort();
    const child = spawnSnoop(["-L", url.replace("PORT", String(port))]);
    try {
      await waitForPort(port);
      await measure(name, port, connect ? source.port : undefined);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  }
  source.close();
  await source.serving.catch(() => {});
  const direct = rows[0][1];
  console.log(`\n### relay: ${size / MiB} MiB per download, median of ${rounds}\n`);
  console.log("| path | MB/s | vs direct |\n|---|---:|---:|");
  for (const [name, mbps] of rows) {
    console.log(`| ${name} | ${mbps.toFixed(0)} | ${(mbps / direct * 100).toFixed(0)}% |`);
  }
}

/** The copy loop alone: our read/write relay against pipeTo, source and sink in-process. */
async function copyScenario() {
  const size = 256 * MiB;
  const results: [string, number][] = [];
  for (const variant of ["read/write loop (relay)", "ReadableStream.pipeTo"] as const) {
    const source = startSource(size);
    const front = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const serving = (async () => {
      const client = await front.accept();
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: source.port });
      if (variant === "ReadableStream.pipeTo") {
        await Promise.all([
          client.readable.pipeTo(upstream.writable).catch(() => {}),
          upstream.readable.pipeTo(client.writable).catch(() => {}),
        ]);
      } else {
        await relay(client, upstream);
      }
    })();
    results.push([variant, await download((front.addr as Deno.NetAddr).port)]);
    front.close();
    await serving.catch(() => {});
    source.close();
    await source.serving.catch(() => {});
  }
  console.log(`\n### copy loop in-process: ${size / MiB} MiB\n`);
  console.log("| loop | MB/s |\n|---|---:|");
  for (const [name, mbps] of results) console.log(`| ${name} | ${mbps.toFixed(0)} |`);
}

/** Keep-alive GETs through the forward proxy from `clients` concurrent connections. */
async function requestsScenario() {
  const body = "x".repeat(1024);
  const ac = new AbortController();
  const originPort = freePort();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: originPort,
    signal: ac.signal,
    onListen() {},
  }, () => new Response(body));
  const port = freePort();
  const child = spawnSnoop(["-L", `http://127.0.0.1:${port}`]);
  const clients = 50, seconds = 5;
  try {
    await waitForPort(port);
    const request = encoder.encode(
      `GET http://127.0.0.1:${originPort}/ HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`,
    );
    const latencies: number[] = [];
    let done = 0;
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const buf = new Uint8Array(8192);
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await conn.write(request);
        let got = "";
        // Response is small: read until the 1 KiB body has arrived.
        while (!(got.includes("\r\n\r\n") && got.length - got.indexOf("\r\n\r\n") - 4 >= 1024)) {
          const n = await conn.read(buf);
          if (n === null) throw new Error("proxy closed");
          got += new TextDecoder().decode(buf.subarray(0, n));
        }
        latencies.push(performance.now() - t0);
        done++;
      }
      conn.close();
    }));
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.floor(latencies.length * q)].toFixed(2);
    console.log(
      `\n### requests: 1 KiB responses, ${clients} keep-alive connections, ${seconds} s\n`,
    );
    console.log("| proxy | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|");
    console.log(
      `| snoop http (no recorder) | ${(done / seconds).toFixed(0)} | ${p(0.5)} | ${p(0.99)} |`,
    );
    console.log(
      "\n(the load generator runs in Deno on the same cores; `deno task bench compare` uses wrk)",
    );
  } finally {
    child.kill("SIGKILL");
    await child.status;
    ac.abort();
    await server.finished;
  }
}

/** Issues certificates for new hosts while a 1 ms timer measures how late it fires. */
async function certsScenario() {
  const dir = await Deno.makeTempDir();
  console.log("\n### certs: new-host leaf issuance, 200 hosts one by one, then 50 at once\n");
  console.log(
    "| CA key | p50 ms | p99 ms | longest stall, one by one ms | 50 concurrent, total ms | longest stall, 50 concurrent ms |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  try {
    for (const kind of ["ecdsa", "rsa"] as const) {
      await CertificateAuthority.create(`${dir}/${kind}.crt`, `${dir}/${kind}.key`, kind);
      const issuer = new LeafIssuer(
        await CertificateAuthority.load(`${dir}/${kind}.crt`, `${dir}/${kind}.key`),
        10_000,
      );
      await issuer.contextFor("warm-up.test");
      let last = performance.now(), stall = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        stall = Math.max(stall, now - last - 1);
        last = now;
      }, 1);
      const times: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await issuer.contextFor(`host-${i}.${kind}.test`);
        times.push(performance.now() - t0);
      }
      const sequentialStall = stall;
      stall = 0;
      last = performance.now();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => issuer.contextFor(`burst-${i}.${kind}.test`)),
      );
      const burst = performance.now() - t0;
      clearInterval(ticker);
      console.log(
        `| ${kind} | ${percentile(times, 0.5).toFixed(2)} | ${
          percentile(times, 0.99).toFixed(2)
        } | ${sequentialStall.toFixed(1)} | ${burst.toFixed(0)} | ${stall.toFixed(1)} |`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function mitmScenario() {
  const dir = await Deno.makeTempDir();
  const seconds = 5;
  const openssl = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost",
      "-keyout",
      `${dir}/o.key`,
      "-out",
      `${dir}/o.crt`,
    ],
    stdout: "null",
    stderr: "null",
  }).output();
  if (!openssl.success) throw new Error("openssl failed");
  await CertificateAuthority.create(`${dir}/ca.crt`, `${dir}/ca.key`, "ecdsa");
  const caPem = await Deno.readTextFile(`${dir}/ca.crt`);
  const ac = new AbortController();
  const originPort = freePort();
  const body = "x".repeat(1024);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: originPort,
    signal: ac.signal,
    cert: await Deno.readTextFile(`${dir}/o.crt`),
    key: await Deno.readTextFile(`${dir}/o.key`),
    onListen() {},
  }, () => new Response(body));
  const port = freePort();
  const child = spawnSnoop([
    "-L",
    `http://127.0.0.1:${port}?sniffing=true&mitm.certFile=${dir}/ca.crt&mitm.keyFile=${dir}/ca.key&mitm.upstreamCA=${dir}/o.crt`,
  ]);
  const target = `localhost:${originPort}`;
  const rows: string[] = [];
  try {
    await waitForPort(port);
    const t = { proxyPort: port, target, servername: "localhost", ca: caPem, responseBytes: 1124 };
    const row = (label: string, r: LoadResult) =>
      `| ${label} | ${(r.requests / r.seconds).toFixed(0)} | ${
        percentile(r.latenciesMs, 0.5).toFixed(2)
      } | ${percentile(r.latenciesMs, 0.99).toFixed(2)} |`;
    rows.push(row("HTTP/1.1, 50 keep-alive clients", await http1Load(t, 50, seconds)));
    rows.push(row("HTTP/2, 50 streams on 5 connections", await http2Load(t, 5, 10, seconds)));
  } finally {
    child.kill("SIGKILL");
    await child.status;
    ac.abort();
    await server.finished;
    await Deno.remove(dir, { recursive: true });
  }
  console.log(`\n### mitm: 1 KiB responses, ${seconds} s each, snoop intercepting (no recorder)\n`);
  console.log("| load | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|");
  for (const r of rows) console.log(r);
  console.log("\n(the load generator, TLS included, runs in Deno on the same 2 cores)");
}

/**
 * Ingest of records as the main job makes them (a 1 KiB JSON response body each, in the word
 * index) next to the same records without bodies, into fresh stores, in batches of 500 and
 * of 50: records/s and CPU per record (the process's, V8's helper threads included) of each
 * step. Appending is what the store's writer does under load; indexing is the indexer's,
 * done when the machine has time.
 */
async function bodyIngest(make: (i: number) => string) {
  const total = 200_000;
  // 1 KiB of JSON text, words and all, as the word index takes it.
  const words = JSON.stringify({ items: Array.from({ length: 40 }, (_, k) => `item ${k}`) });
  const text = `${words.slice(0, -1)},"pad":"${"x".repeat(1024 - words.length - 9)}"}`;
  const withBody = (i: number) => {
    const r = JSON.parse(make(i));
    r.http.response.body = btoa(text.replace("item 0", `item ${i}`).slice(0, 1024));
    return JSON.stringify(r);
  };
  console.log(
    `\n### store ingest by record and batch (${total.toLocaleString("en")} records each)\n`,
  );
  console.log(
    "| records | batch | append records/s | append CPU µs/record | index records/s | index CPU µs/record |\n|---|---:|---:|---:|---:|---:|",
  );
  for (const [label, gen] of [["no bodies", make], ["1 KiB response body", withBody]] as const) {
    const texts = Array.from({ length: total }, (_, i) => gen(i));
    for (const batch of [500, 50]) {
      const dir = await Deno.makeTempDir();
      const store = new RecordStore(`${dir}/records.db`);
      try {
        const step = (run: () => void) => {
          const cpu0 = process.cpuUsage(), t0 = performance.now();
          run();
          const secs = (performance.now() - t0) / 1000, cpu = process.cpuUsage(cpu0);
          return `${(total / secs).toFixed(0)} | ${((cpu.user + cpu.system) / total).toFixed(1)}`;
        };
        const append = step(() => {
          for (let i = 0; i < total; i += batch) store.appendBatch(texts.slice(i, i + batch));
        });
        const index = step(() => {
          while (store.indexPending() !== null); // as the indexer does: 16 chunks, 20 ms
        });
        console.log(`| ${label} | ${batch} | ${append} | ${index} |`);
      } finally {
        store.close();
        await Deno.remove(dir, { recursive: true });
      }
    }
  }
}

async function storeScenario() {
  const dir = await Deno.makeTempDir();
  const total = 1_000_000, batch = 500;
  const store = new RecordStore(`${dir}/records.db`);
  const hosts = Array.from({ length: 200 }, (_, i) => `host-${i}.example.com:443`);
  const start = Date.parse("2026-11-20T00:00:00Z");
  const make = (i: number) =>
    JSON.stringify({
      service: i % 3 ? "edge" : "office",
      network: "tcp",
      remote: `10.0.${(i >> 8) & 255}.${i & 255}:5000`,
      local: "127.0.0.1:8080",
      host: hosts[i % hosts.length],
      proto: "tls",
      clientIP: `127.0.${(i >> 8) & 255}.${i & 255}`,
      http: {
        host: hosts[i % hosts.length].replace(/:443$/, ""),
        method: i % 10 ? "GET" : "POST",
        proto: "HTTP/2.0",
        scheme: "https",
        uri: `/api/v1/items/${i}?q=${i % 97}`,
        statusCode: [200, 200, 200, 201, 304, 404, 500][i % 7],
        request: {
          contentLength: 0,
          header: { "User-Agent": ["bench/1"], "X-Request-Id": [`req-${i}`] },
          // POSTs (one in ten) carry a captured body, for the body terms below.
          body: i % 10 ? null : btoa(`{"item":${i},"note":"order-${i}"}`),
        },
        response: {
          contentLength: 1024,
          header: { "Content-Type": ["application/json"] },
          body: null,
        },
      },
      inputBytes: 300,
      outputBytes: 1400,
      sid: "crugtkkdfur6asj5vbtg",
      duration: 5_000_000,
      time: new Date(start + i * 600).toISOString(), // a week of traffic
    });
  try {
    const t0 = performance.now();
    for (let i = 0; i < total; i += batch) {
      store.insertBatch(Array.from({ length: batch }, (_, k) => make(i + k)));
    }
    const ingest = (performance.now() - t0) / 1000;
    const time = (label: string, fn: () => unknown) => {
      const runs: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        fn();
        runs.push(performance.now() - t);
      }
      return [label, median(runs)] as const;
    };
    const day = 86_400_000;
    const rows = [
      time("newest 100, no filter", () => store.list({}, 100)),
      time("host = one host, newest 100", () => store.list({ host: "host-7.example.com" }, 100)),
      time(
        "host wildcard *.example.com, status 5xx, newest 100",
        () => store.list({ host: "*.example.com", status: "5xx" }, 100),
      ),
      time(
        "one day, method POST, newest 100",
        () => store.list({ since: start + 2 * day, until: start + 3 * day, method: "POST" }, 100),
      ),
      time("free text in headers (req-999999)", () => store.list({ q: "req-999999" }, 100)),
      time(
        "aggregates over one day",
        () => store.stats({ since: start + 2 * day, until: start + 3 * day }),
      ),
      time("aggregates over everything", () => store.stats({})),
      // The filter language: three terms the columns answer, then ones tested on candidates.
      time(
        "f: ~d example.com & ~c 5xx & ~m POST, newest 100",
        () => store.list({ expr: "~d example.com & ~c 5xx & ~m POST" }, 100),
      ),
      time(
        "f: ~h host-7.example.com & !~c 2xx & ~u '/items/[0-9]+7[?]', newest 100",
        () => store.list({ expr: "~h host-7.example.com & !~c 2xx & ~u '/items/[0-9]+7[?]'" }, 100),
      ),
      time(
        "f: ~m POST & ~c 5xx & ~b order-99 (body), newest 100",
        () => store.list({ expr: "~m POST & ~c 5xx & ~b order-99" }, 100),
      ),
      time(
        "f: ~m POST & ~hq bench & ~bq order-999999 (one match, candidates capped)",
        () => store.list({ expr: "~m POST & ~hq bench & ~bq order-999999" }, 100),
      ),
      time(
        "f: aggregates of ~d example.com & ~c 4xx & ~m GET",
        () => store.stats({ expr: "~d example.com & ~c 4xx & ~m GET" }),
      ),
      time(
        "aggregates of host *.example.com, status 4xx, method GET (the fields)",
        () => store.stats({ host: "*.example.com", status: "4xx", method: "GET" }),
      ),
    ];
    console.log(
      `\n### store: ${total.toLocaleString("en")} records in SQLite (batches of ${batch})\n`,
    );
    console.log(`ingest: ${(total / ingest).toFixed(0)} records/s (${ingest.toFixed(1)} s)\n`);
    console.log("| query | ms (median of 3) |\n|---|---:|");
    for (const [label, ms] of rows) console.log(`| ${label} | ${ms.toFixed(1)} |`);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
  await bodyIngest(make);
  // The same records into PostgreSQL, when one is reachable (as .ci/run sets up).
  const url = Deno.env.get("SNOOP_BENCH_POSTGRES") ??
    "postgres://snoop:snoop@127.0.0.1:5432/snoop_test";
  let pgStore: PgRecordStore;
  try {
    pgStore = await PgRecordStore.connect(url, { maxAgeMs: 0, maxRecords: 0 });
  } catch (e) {
    console.log(`\nPostgreSQL ingest skipped: ${(e as Error).message} (set SNOOP_BENCH_POSTGRES)`);
    return;
  }
  try {
    await pgStore.pool.query("TRUNCATE snoop_records");
    const pgTotal = 200_000;
    const t0 = performance.now();
    for (let i = 0; i < pgTotal; i += batch) {
      await pgStore.insertBatch(Array.from({ length: batch }, (_, k) => make(i + k)));
    }
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `\nPostgreSQL ingest, same records and batches: ${(pgTotal / secs).toFixed(0)} records/s (${
        pgTotal.toLocaleString("en")
      } in ${secs.toFixed(1)} s)`,
    );
    await pgStore.pool.query("TRUNCATE snoop_records");
  } finally {
    await pgStore.close();
  }
}

const scenarios: Record<string, () => Promise<void>> = {
  relay: relayScenario,
  copy: copyScenario,
  requests: requestsScenario,
  certs: certsScenario,
  mitm: mitmScenario,
  store: storeScenario,
  // squid, tinyproxy, mitmdump and the direct path side by side (scripts/compare.ts).
  compare: async () => void await import("./compare.ts"),
  // RSS per idle tunnel, snoop next to the least a Deno relay holds (scripts/idle_tunnels.ts).
  tunnels: async () => void await import("./idle_tunnels.ts"),
  // What recording costs, by recorder, side by side (scripts/recording_cost.ts).
  recording: async () => void await import("./recording_cost.ts"),
  // Head parsing and record JSON in a loop (scripts/hot_path.ts).
  hotpath: async () => void await import("./hot_path.ts"),
  // The main job next to the bare forward path and squid (scripts/mainjob.ts).
  mainjob: async () => void await import("./mainjob.ts"),
  // An edge snoop and pre-built batches into `snoop collect` (scripts/collect.ts).
  collect: async () => void await import("./collect.ts"),
  // RSS after load by kind, and the executable paged out (scripts/pageout.ts).
  pageout: async () => void await import("./pageout.ts"),
};
// Other arguments (--quick, --sections d, --count N) belong to the scenario that reads them.
const named = Deno.args.filter((a) => Object.hasOwn(scenarios, a));
const wanted = named.length
  ? named
  : Object.keys(scenarios).filter((s) =>
    !["tunnels", "recording", "pageout", "mainjob", "collect"].includes(s)
  );
console.log(`## snoop bench — ${new Date().toISOString().slice(0, 10)} — ${machine()}`);
for (const name of wanted) {
  if (!scenarios[name]) {
    console.error(`unknown scenario ${name}; have ${Object.keys(scenarios).join(", ")}`);
    Deno.exit(2);
  }
  await scenarios[name]();
}
