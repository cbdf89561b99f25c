import assert from "node:assert/strict";
import { Collector } from "../../src/collector/collector.ts";
import { goDuration, lokiLine } from "../../src/collector/loki.ts";
import { Logger } from "../../src/util/log.ts";
import {
  curl,
  freePort,
  needs,
  run,
  startOrigin,
  startSnoop,
  waitForPort,
} from "../helpers/harness.ts";
import { collections, keepBusy, spawnLogged } from "../helpers/idle_check.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** What GOST's and snoop's http recorders send; the collector takes nothing else. */
const JSON_TYPE = { "content-type": "application/json" };

/** The query API's token, which the collector has even when ingest takes none. */
const uiAuth = (c: Collector) => ({ authorization: `Bearer ${c.uiToken}` });

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await get();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A Loki stand-in: records what arrives at /loki/api/v1/push (Loki itself cannot run here). */
async function startLoki() {
  const pushes: { tenant: string | null; type: string | null; body: Json }[] = [];
  const origin = await startOrigin(async (req, body) => {
    if (new URL(req.url).pathname !== "/loki/api/v1/push") {
      return new Response("not found", { status: 404 });
    }
    pushes.push({
      tenant: req.headers.get("x-scope-orgid"),
      type: req.headers.get("content-type"),
      body: JSON.parse(body),
    });
    await Promise.resolve();
    return new Response(null, { status: 204 });
  });
  return { ...origin, pushes };
}

Deno.test({
  name:
    "collector: GOST-shaped records from the seed, posted by curl, are stored, queryable, and pushed to Loki",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const loki = await startLoki();
    const collector = await Collector.start({
      addr: "127.0.0.1:0",
      storePath: `${dir}/c.db`,
      lokiUrl: `${loki.url}/loki/api/v1/push`,
      lokiId: "gost",
      maxAgeMs: 0,
      maxRecords: 0,
    }, new Logger("test"));
    const base = `http://127.0.0.1:${collector.addr.port}`;
    try {
      const lines = (await Deno.readTextFile("tests/fixtures/seed_records.jsonl")).trim().split(
        "\n",
      );
      for (const line of lines) {
        const r = await curl(
          "-X",
          "POST",
          "-H",
          "Content-Type: application/json",
          "--data-binary",
          line,
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          `${base}/`,
        );
        assert.equal(r.stdout, "200");
      }
      const api = async (q: string) =>
        (await (await fetch(`${base}/api/records?${q}`, { headers: uiAuth(collector) })).json())
          .records;
      const all = await until(() => api(""), (r) => r.length === 4, "4 stored records");
      assert.deepEqual(all.map((r: Json) => r.kind).sort(), ["connect", "http", "http", "tls"]);
      // `proto=tls` is the kind or the sniffed proto: the passthrough and the MITM request.
      assert.equal((await api("proto=tls")).length, 2);
      assert.equal((await api("host=*.example.com")).length, 4);
      const mitm = all.find((r: Json) => r.httpProto === "HTTP/2.0");
      assert.equal(mitm.uri, "/");
      assert.equal(mitm.proto, "tls");
      // Loki got every record, in one stream per service, as gost-plugins formats them.
      const pushes = await until(
        () => Promise.resolve(loki.pushes),
        (p) => p.flatMap((x) => x.body.streams.flatMap((s: Json) => s.values)).length === 4,
        "4 Loki lines",
      );
      assert.ok(pushes.every((p) => p.tenant === "gost" && p.type === "application/json"));
      const stream = pushes[0].body.streams[0];
      assert.deepEqual(stream.stream, { service_name: "service-0" });
      const [ts, line, meta] = stream.values[0];
      assert.match(ts, /^\d{19}$/);
      assert.equal(
        line,
        "- www.example.com:80 GET www.example.com / HTTP/1.1 200 0 1256 275.290907ms",
      );
      assert.equal(meta.sid, "crugtkkdfur6asj5vbtg");
      assert.equal(meta.duration, "275290907");
      assert.match(meta.http_response_header, /^Accept-Ranges: bytes\r\n/);
      // Malformed input is refused, and says why.
      const post = (body: string) =>
        fetch(`${base}/`, { method: "POST", headers: JSON_TYPE, body });
      const bad = await post("{nope");
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).error, /not JSON/);
      const notRecord = await post("[1,2]");
      assert.equal(notRecord.status, 400);
      assert.deepEqual(await notRecord.json(), {
        error: "records[0]: expected a record (a JSON object)",
        stored: 0,
        rejected: 2,
        ignored: 0,
      });
      const redirect = await post(JSON.stringify({ service: "s", redirect: "node-1" }));
      assert.equal(redirect.status, 200);
      assert.deepEqual(await redirect.json(), { stored: 0, rejected: 0, ignored: 1 });
      assert.deepEqual(collector.counts, { accepted: 4, rejected: 3, deferred: 0, refused: 0 });
    } finally {
      await collector.stop();
      await loki.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

for (const batch of [0, 100]) {
  Deno.test({
    name: `collector: fed by snoop's http recorder from another proxy process (${
      batch ? `batch: ${batch}, JSON arrays` : "a record per POST, as GOST"
    })`,
    ignore: needs("curl"),
    fn: () => fedBySnoop(batch),
  });
}

async function fedBySnoop(batch: number) {
  const dir = await Deno.makeTempDir();
  const collector = await Collector.start({
    addr: "127.0.0.1:0",
    storePath: `${dir}/c.db`,
    lokiId: "gost",
    maxAgeMs: 0,
    maxRecords: 0,
  }, new Logger("test"));
  const origin = await startOrigin();
  // examples/edge-to-collector.yaml on test ports, with its batch or none.
  const example = await Deno.readTextFile("examples/edge-to-collector.yaml");
  for (const text of ["addr: :8080", "url: http://127.0.0.1:8000/", "batch: 100"]) {
    assert.ok(example.includes(text), `the example still has ${text}`);
  }
  const snoop = await startSnoop(
    example.replace("addr: :8080", "addr: 127.0.0.1:0")
      .replace("url: http://127.0.0.1:8000/", `url: http://127.0.0.1:${collector.addr.port}/`)
      .replace("batch: 100", `batch: ${batch}`),
  );
  try {
    const urls = ["a", "b", "c", "d", "e"].map((p) => `${origin.url}/${p}`);
    await curl("-x", `127.0.0.1:${snoop.port()}`, ...urls);
    const recs = await until(
      async () =>
        (await (await fetch(
          `http://127.0.0.1:${collector.addr.port}/api/records?service=edge-1`,
          { headers: uiAuth(collector) },
        )).json()).records,
      (r: Json[]) => r.length === urls.length,
      "five records from edge-1",
    );
    assert.deepEqual(recs.map((r: Json) => r.uri).sort(), urls);
    assert.deepEqual(collector.counts, {
      accepted: urls.length,
      rejected: 0,
      deferred: 0,
      refused: 0,
    });
    assert.deepEqual(snoop.recorders.get("central")!.stats().dropped, {});
  } finally {
    await snoop.stop(0);
    await origin.close();
    await collector.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "collector: snoop collect on the command line requires a token beyond loopback",
  async fn() {
    const r = await run(Deno.execPath(), ["run", "-A", "mod.ts", "collect", "--addr", "0.0.0.0:0"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /beyond loopback: give it a --token/);
  },
});

Deno.test({
  name: "collector: snoop collect also collects and trims its memory once quiet after a burst",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir();
    const port = freePort();
    const collector = spawnLogged([
      "run",
      "-A",
      "mod.ts",
      "collect",
      "-D",
      "--addr",
      `127.0.0.1:${port}`,
      "--store",
      `${dir}/c.db`,
    ]);
    try {
      await waitForPort(port);
      const records = (await Deno.readTextFile("tests/fixtures/seed_records.jsonl")).trim().split(
        "\n",
      );
      let i = 0;
      const used = await keepBusy(collector.child.pid, 500, async () => {
        const r = await fetch(`http://127.0.0.1:${port}/`, {
          method: "POST",
          headers: JSON_TYPE,
          body: records[i++ % records.length],
        });
        assert.equal(r.status, 200);
        await r.body?.cancel();
      });
      assert.ok(used >= 500, "the collector did not get busy");
      // Quiet: 10 s of it, judged on 5 s samples, so the collection comes within ~20 s.
      const deadline = Date.now() + 30_000;
      while (collections(collector.log()).length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      const [c] = collections(collector.log());
      assert.ok(c, `no collection within 30 s of quiet:\n${collector.log()}`);
      assert.ok(c.trimmed, collector.log());
    } finally {
      await collector.stop();
      await Deno.remove(dir, { recursive: true });
    }
    assert.equal(collections(collector.log()).length, 1, collector.log());
  },
});

Deno.test("loki line and Go duration formats", () => {
  assert.equal(goDuration(275290907), "275.290907ms");
  assert.equal(goDuration(1_500_000_000), "1.5s");
  assert.equal(goDuration(123_500_000_000), "2m3.5s");
  assert.equal(goDuration(3_600_000_000_000), "1h0m0s");
  assert.equal(goDuration(1500), "1.5µs");
  assert.equal(
    lokiLine({
      client: "1.2.3.4:5",
      host: "h:443",
      tls: { version: "tls1.3", proto: "h2" },
      inputBytes: 10,
      outputBytes: 20,
      duration: 1e9,
      err: "eof",
    }),
    "1.2.3.4:5 h:443 tls1.3 h2 10 20 1s eof",
  );
  assert.equal(
    lokiLine({
      remote: "r:1",
      host: "udp://1.1.1.1:53",
      dns: { name: "a.test.", class: "IN", type: "A" },
      inputBytes: 30,
      outputBytes: 50,
      duration: 2e6,
    }),
    "- udp://1.1.1.1:53 a.test IN A 30 50 2ms",
  );
});
