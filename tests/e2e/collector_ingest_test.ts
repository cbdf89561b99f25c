import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Collector } from "../../src/collector/collector.ts";
import { createIngest, type IngestCounts } from "../../src/collector/ingest.ts";
import { LokiPusher } from "../../src/collector/loki.ts";
import { Logger } from "../../src/util/log.ts";
import { FileRecorder } from "../../src/recorder/file_recorder.ts";
import { headlessChromium } from "../helpers/chromium.ts";
import {
  curl,
  freePort,
  needs,
  run,
  startOrigin,
  startSnoop,
  until,
  waitForPort,
} from "../helpers/harness.ts";
import { spawnLogged } from "../helpers/idle_check.ts";
import { sampleRecord } from "../helpers/records.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const quiet = new Logger("test");

async function startCollector(dir: string, token?: string): Promise<Collector> {
  return await Collector.start({
    addr: "127.0.0.1:0",
    storePath: `${dir}/c.db`,
    token,
    lokiId: "gost",
    maxAgeMs: 0,
    maxRecords: 0,
  }, quiet);
}

/** The URIs of the records stored, newest first (through the query API). */
async function storedUris(c: Collector): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${c.addr.port}/api/records?limit=1000`, {
    headers: { authorization: `Bearer ${c.uiToken}` },
  });
  assert.equal(res.status, 200);
  return (await res.json()).records.map((r: Json) => r.uri);
}

/** curl POSTs `body` with `args`; the status and the answer's text. */
async function post(url: string, body: string, ...args: string[]) {
  // A long body goes through a file: the command line has a length limit.
  const file = body.length > 64 * 1024 ? await Deno.makeTempFile() : null;
  if (file) await Deno.writeTextFile(file, body);
  try {
    const data = file ? `@${file}` : body;
    const r = await curl("-X", "POST", ...args, "--data-binary", data, "-w", "\n%{http_code}", url);
    const nl = r.stdout.lastIndexOf("\n");
    return { status: Number(r.stdout.slice(nl + 1)), text: r.stdout.slice(0, nl) };
  } finally {
    if (file) await Deno.remove(file);
  }
}

const JSON_TYPE = ["-H", "Content-Type: application/json"];

Deno.test({
  name:
    "collector ingest: what a browser can send (text/plain, another origin, cross-site, another Host) is refused and nothing is stored",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const collector = await startCollector(dir);
    const base = `http://127.0.0.1:${collector.addr.port}/`;
    const record = sampleRecord(0);
    try {
      const refused: [string[], number][] = [
        [["-H", "Content-Type: text/plain"], 415],
        [[], 415], // curl's default: application/x-www-form-urlencoded
        [[...JSON_TYPE, "-H", "Origin: http://evil.example"], 403],
        [[...JSON_TYPE, "-H", `Origin: http://127.0.0.1:${collector.addr.port + 1}`], 403],
        [[...JSON_TYPE, "-H", "Origin: null"], 403],
        [[...JSON_TYPE, "-H", "Sec-Fetch-Site: cross-site"], 403],
        [[...JSON_TYPE, "-H", "Sec-Fetch-Site: same-site"], 403],
        [[...JSON_TYPE, "-H", `Host: rebound.example:${collector.addr.port}`], 421],
      ];
      for (const [args, status] of refused) {
        const r = await post(base, record, ...args);
        assert.equal(r.status, status, `${args.join(" ")}: ${r.text}`);
        assert.ok(JSON.parse(r.text).error, r.text);
      }
      // A recorder's POST (no Origin, JSON), and the collector's own origin, are taken.
      assert.equal((await post(base, sampleRecord(1), ...JSON_TYPE)).status, 200);
      const own = await post(
        base,
        sampleRecord(2),
        ...JSON_TYPE,
        "-H",
        `Origin: http://127.0.0.1:${collector.addr.port}`,
        "-H",
        "Sec-Fetch-Site: same-origin",
      );
      assert.equal(own.status, 200, own.text);
      assert.deepEqual(JSON.parse(own.text), { stored: 1, rejected: 0, ignored: 0 });
      await until(async () => (await storedUris(collector)).length === 2, "two records");
      assert.deepEqual(await storedUris(collector), ["/item/2", "/item/1"]);
      assert.equal(collector.counts.refused, refused.length);
    } finally {
      await collector.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "collector ingest: with --token, only the right Bearer token posts, and it reads nothing",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const collector = await startCollector(dir, "s3cret-token");
    const base = `http://127.0.0.1:${collector.addr.port}/`;
    try {
      for (
        const auth of [[], ["-H", "Authorization: Bearer s3cret-tokeN"], [
          "-H",
          "Authorization: s3cret-token",
        ]]
      ) {
        assert.equal((await post(base, sampleRecord(0), ...JSON_TYPE, ...auth)).status, 401);
      }
      // The paths the web side serves without the token are no way around it for records.
      assert.equal((await post(`${base}healthz`, sampleRecord(0), ...JSON_TYPE)).status, 401);
      const ok = await post(
        base,
        sampleRecord(1),
        ...JSON_TYPE,
        "-H",
        "Authorization: Bearer s3cret-token",
      );
      assert.equal(ok.status, 200, ok.text);
      await until(async () => (await storedUris(collector)).length === 1, "one record");
      assert.deepEqual(await storedUris(collector), ["/item/1"]);
      // A proxy allowed to post cannot read what the others recorded: the UI's token is its own.
      assert.notEqual(collector.uiToken, "s3cret-token");
      const read = await fetch(`${base}api/records`, {
        headers: { authorization: "Bearer s3cret-token" },
      });
      assert.equal(read.status, 401);
      await read.body?.cancel();
    } finally {
      await collector.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "collector ingest: a page Chromium loads from another origin cannot post records to it (CSRF)",
  ignore: needs("chromium"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-csrf-" });
    const collector = await startCollector(home);
    const target = `http://127.0.0.1:${collector.addr.port}/`;
    const planted = sampleRecord(7, { http: { uri: "/<img src=x onerror=alert(1)>" } });
    // The classic forms of a cross-site POST: a no-cors text/plain fetch (what a form with
    // enctype=text/plain sends too), and a JSON one, which needs a CORS preflight first.
    const page = `<!doctype html><script>
const body = ${JSON.stringify(planted)};
(async () => {
  await fetch(${JSON.stringify(target)}, { method: "POST", mode: "no-cors", body }).catch(() => {});
  await fetch(${JSON.stringify(target)}, {
    method: "POST", headers: { "content-type": "application/json" }, body,
  }).catch(() => {});
  await fetch("/done", { method: "POST", body: "done" });
})();
</script>`;
    const attacker = await startOrigin((req) =>
      new URL(req.url).pathname === "/"
        ? new Response(page, { headers: { "content-type": "text/html" } })
        : new Response("ok")
    );
    try {
      const browsing = headlessChromium(home, [
        "--virtual-time-budget=10000",
        "--dump-dom",
        `${attacker.url}/`,
      ]);
      await until(
        () => attacker.requests.some((r) => r.path === "/done"),
        "the page's fetches to finish",
        40_000,
      );
      await browsing;
      // The no-cors POST reached the collector and was refused; the JSON one never left the
      // browser (its preflight got no CORS grant).
      assert.equal(collector.counts.accepted, 0, JSON.stringify(collector.counts));
      assert.deepEqual(await storedUris(collector), []);
      assert.ok(collector.counts.refused >= 1, JSON.stringify(collector.counts));
    } finally {
      await attacker.close();
      await collector.stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "collector ingest: one record of the wrong shape is refused by its path, the good ones of its POST are stored",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const collector = await startCollector(dir);
    const base = `http://127.0.0.1:${collector.addr.port}/`;
    try {
      const bad = sampleRecord(1, {
        http: { request: { contentLength: 0, header: { "X-Trace": "not-a-list" }, body: null } },
      });
      const r = await post(base, `[${sampleRecord(0)},${bad},${sampleRecord(2)}]`, ...JSON_TYPE);
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(JSON.parse(r.text), {
        error: "records[1].http.request.header.X-Trace: expected a list of strings",
        stored: 2,
        rejected: 1,
        ignored: 0,
      });
      const alone = await post(base, sampleRecord(3, { service: 42 }), ...JSON_TYPE);
      assert.equal(alone.status, 400);
      assert.equal(JSON.parse(alone.text).error, "records[0].service: expected a string");
      await until(async () => (await storedUris(collector)).length === 2, "two records");
      assert.deepEqual(await storedUris(collector), ["/item/2", "/item/0"]);
      assert.equal(collector.store.stats().dropped.error, undefined);
    } finally {
      await collector.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "collector ingest: a record nested 100,000 deep is refused, and HAR export and queries go on",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const collector = await startCollector(dir);
    const base = `http://127.0.0.1:${collector.addr.port}/`;
    const auth = { headers: { authorization: `Bearer ${collector.uiToken}` } };
    try {
      const deep = sampleRecord(1).replace(
        /}$/,
        `,"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`,
      );
      const r = await post(base, deep, ...JSON_TYPE);
      assert.equal(r.status, 400, r.text);
      assert.match(JSON.parse(r.text).error, /nested deeper than 32 levels/);
      // An extra field a few levels deep is still a record.
      const nested = sampleRecord(2).replace(/}$/, `,"x":{"a":[[{"b":[1]}]]}}`);
      assert.equal((await post(base, nested, ...JSON_TYPE)).status, 200);
      await until(async () => (await storedUris(collector)).length === 1, "the shallow one");
      const har = await fetch(`${base}api/har`, auth);
      assert.equal(har.status, 200);
      assert.equal((await har.json()).log.entries.length, 1);
    } finally {
      await collector.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "collector ingest: a POST of more than 10,000 records is refused whole, 10,000 are taken",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const collector = await startCollector(dir);
    const base = `http://127.0.0.1:${collector.addr.port}/`;
    try {
      // Millions of the smallest records GOST could send, within the byte cap.
      const tiny = await post(base, `[${Array(5_000_000).fill("{}").join(",")}]`, ...JSON_TYPE);
      assert.equal(tiny.status, 413, tiny.text);
      assert.match(JSON.parse(tiny.text).error, /more than 10000 records/);
      const records = Array.from({ length: 10_001 }, (_, i) => sampleRecord(i));
      const over = await post(base, `[${records.join(",")}]`, ...JSON_TYPE);
      assert.equal(over.status, 413, over.text);
      const full = await post(base, `[${records.slice(1).join(",")}]`, ...JSON_TYPE);
      assert.equal(full.status, 200, full.text);
      assert.deepEqual(JSON.parse(full.text), { stored: 10_000, rejected: 0, ignored: 0 });
      await until(() => collector.store.stats().written === 10_000, "10,000 written", 30_000);
      assert.equal((await storedUris(collector))[999], "/item/9001");
    } finally {
      await collector.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "collector ingest: a full store queue answers 503 with Retry-After for the POST's records, never 200",
  ignore: needs("curl", "mkfifo"),
  async fn() {
    const dir = await Deno.makeTempDir();
    // A file recorder writing into a FIFO nobody reads yet: its first delivery blocks in the
    // open, so its queue (3 records) fills and stays full.
    const fifo = `${dir}/records.fifo`;
    assert.equal((await run("mkfifo", [fifo])).code, 0);
    const store = new FileRecorder({
      kind: "file",
      name: "slow",
      queueSize: 3,
      where: { source: "test", path: "recorders[0]" },
      file: { path: fifo, sep: "\n" },
    }, quiet);
    const counts: IngestCounts = { accepted: 0, rejected: 0, deferred: 0, refused: 0 };
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
      createIngest({ hosts: new Set(), store, counts }),
    );
    const base = `http://127.0.0.1:${server.addr.port}/`;
    const postRecords = (...i: number[]) =>
      post(base, `[${i.map((n) => sampleRecord(n)).join(",")}]`, ...JSON_TYPE);
    let reader: Deno.FsFile | undefined, released = false;
    try {
      assert.equal((await postRecords(0)).status, 200);
      await until(() => store.stats().queued === 0, "the first record taken for delivery");
      assert.equal((await postRecords(1, 2, 3)).status, 200);
      const r = await curl(
        "-X",
        "POST",
        ...JSON_TYPE,
        "--data-binary",
        `[${sampleRecord(4)}]`,
        "-D",
        "-",
        base,
      );
      assert.match(r.stdout, /^HTTP\/1\.1 503/);
      assert.match(r.stdout, /\r\nretry-after: 1\r\n/i);
      assert.match(r.stdout, /"stored":0,"rejected":0,"deferred":1/);
      // All of a POST or none: the record that would fit is not taken without its sibling.
      assert.equal((await postRecords(5, 6)).status, 503);
      assert.deepEqual(counts, { accepted: 4, rejected: 0, deferred: 3, refused: 0 });
      assert.deepEqual(store.stats().dropped, {});
      // The reader comes: the queue drains, and the retried POST is taken.
      reader = await Deno.open(fifo, { read: true });
      released = true;
      const lines: string[] = [];
      const reading = reader.readable.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (t) => void lines.push(t) }),
      );
      await until(() => store.stats().written === 4, "four records written");
      assert.equal((await postRecords(5, 6)).status, 200);
      await until(() => store.stats().written === 6, "six records written");
      await store.close(2000);
      reader = undefined;
      await reading;
      const uris = lines.join("").trim().split("\n").map((l) => JSON.parse(l).http.uri);
      assert.deepEqual(uris, [0, 1, 2, 3, 5, 6].map((i) => `/item/${i}`));
    } finally {
      ac.abort();
      await server.finished;
      reader?.close();
      // Opened for reading and writing, a FIFO opens at once and lets a blocked writer go.
      if (!released) (await Deno.open(fifo, { read: true, write: true })).close();
      await store.close(0);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "collector ingest: snoop's http recorder sends again what a full collector answered 503, and each record is stored once",
  ignore: needs("curl", "mkfifo"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const fifo = `${dir}/records.fifo`;
    assert.equal((await run("mkfifo", [fifo])).code, 0);
    const store = new FileRecorder({
      kind: "file",
      name: "slow",
      queueSize: 3,
      where: { source: "test", path: "recorders[0]" },
      file: { path: fifo, sep: "\n" },
    }, quiet);
    const counts: IngestCounts = { accepted: 0, rejected: 0, deferred: 0, refused: 0 };
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
      createIngest({ hosts: new Set(), store, counts }),
    );
    const origin = await startOrigin();
    const snoop = await startSnoop(`
services:
  - name: edge
    addr: 127.0.0.1:0
    recorders: [{ name: central }]
    handler: { type: http }
recorders: [{ name: central, http: { url: "http://127.0.0.1:${server.addr.port}/" } }]
`);
    let reader: Deno.FsFile | undefined;
    try {
      const urls = Array.from({ length: 8 }, (_, i) => `${origin.url}/r${i}`);
      await curl("-x", `127.0.0.1:${snoop.port()}`, ...urls);
      // One record blocks in the FIFO, three fill the queue, the rest are answered 503.
      await until(() => counts.deferred > 0, "a 503");
      const central = snoop.recorders.get("central")!;
      assert.deepEqual(central.stats().dropped, {});
      reader = await Deno.open(fifo, { read: true });
      const lines: string[] = [];
      const reading = reader.readable.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (t) => void lines.push(t) }),
      );
      await until(() => store.stats().written === urls.length, "every record written", 20_000);
      assert.deepEqual(central.stats().dropped, {});
      assert.equal(central.stats().written, urls.length);
      await store.close(2000);
      reader = undefined;
      await reading;
      const uris = lines.join("").trim().split("\n").map((l) => JSON.parse(l).http.uri);
      assert.deepEqual(uris.sort(), urls);
    } finally {
      await snoop.stop(0);
      await origin.close();
      ac.abort();
      await server.finished;
      if (reader) reader.close();
      else (await Deno.open(fifo, { read: true, write: true })).close();
      await store.close(0);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The last record id a store file has indexed (0 before it has one). */
function indexedTo(path: string): number {
  try {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const row = db.prepare("SELECT value FROM store_meta WHERE key = 'indexed_to'").get() as
        | { value: number }
        | undefined;
      return row?.value ?? 0;
    } finally {
      db.close();
    }
  } catch {
    return 0; // not made yet
  }
}

/** The peak resident set of a process, in MiB. */
function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return Number(m![1]) / 1024;
}

Deno.test({
  name:
    "collector ingest: a 64 MiB chunked body is refused at 16 MiB while it streams in, without the memory to hold it",
  ignore: needs("curl") || Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir();
    const port = freePort();
    const collector = spawnLogged([
      "run",
      "-A",
      "mod.ts",
      "collect",
      "--addr",
      `127.0.0.1:${port}`,
      "--store",
      `${dir}/c.db`,
    ]);
    try {
      await waitForPort(port);
      const base = `http://127.0.0.1:${port}/`;
      assert.equal((await post(base, sampleRecord(0), ...JSON_TYPE)).status, 200);
      // The store's workers are up (the indexer starts once the first record is stored).
      await until(() => indexedTo(`${dir}/c.db`) >= 1, "the first record indexed");
      const before = peakRssMiB(collector.child.pid);
      const big = `${dir}/big.json`;
      await Deno.writeFile(big, new Uint8Array(64 * 1024 * 1024).fill(0x20));
      const r = await curl(
        "-X",
        "POST",
        ...JSON_TYPE,
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        `@${big}`,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        base,
      );
      assert.equal(r.stdout, "413", `curl: ${r.code} ${r.stderr}`);
      const grew = peakRssMiB(collector.child.pid) - before;
      // Holding the body whole would take 64 MiB at least (twice that as a string too).
      assert.ok(grew < 40, `the peak RSS grew by ${grew.toFixed(1)} MiB`);
      // It still takes records.
      assert.equal((await post(base, sampleRecord(1), ...JSON_TYPE)).status, 200);
    } finally {
      await collector.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "loki push: a record with non-string labels and metadata still goes out, with its batch",
  async fn() {
    // Loki refuses a whole push whose label or metadata values are not all strings.
    const pushes: Json[] = [];
    const loki = await startOrigin((_req, body) => {
      const push = JSON.parse(body);
      const strings = (o: Record<string, unknown>) =>
        Object.values(o).every((v) => typeof v === "string");
      const ok = push.streams.every((s: Json) =>
        strings(s.stream) && s.values.every((v: Json) => typeof v[1] === "string" && strings(v[2]))
      );
      if (!ok) return new Response("invalid labels", { status: 400 });
      pushes.push(push);
      return new Response(null, { status: 204 });
    });
    const pusher = new LokiPusher(`${loki.url}/loki/api/v1/push`, "gost", 5000, quiet);
    try {
      pusher.record(sampleRecord(0));
      pusher.record(JSON.stringify({
        ...JSON.parse(sampleRecord(1)),
        service: 5,
        node: 7,
        sid: 9,
        http: { uri: ["/x"], request: { header: { X: "v" } } },
      }));
      pusher.record("not json");
      await until(
        () => pusher.stats().written + (pusher.stats().dropped.error ?? 0) === 3,
        "the batch delivered",
      );
      assert.equal(pusher.stats().written, 2);
      const streams = pushes.flatMap((p) => p.streams);
      assert.deepEqual(
        streams.map((s: Json) => s.stream).sort((a: Json, b: Json) =>
          a.service_name < b.service_name ? -1 : 1
        ),
        [
          { service_name: "5", node: "7" },
          { service_name: "svc" },
        ],
      );
      const odd = streams.find((s: Json) => s.stream.service_name === "5").values[0][2];
      assert.equal(odd.sid, "9");
      assert.equal(odd.uri, '["/x"]');
      assert.equal(odd.http_request_header, "X: v\r\n");
    } finally {
      await pusher.close(1000);
      await loki.close();
    }
  },
});
