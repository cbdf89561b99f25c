import assert from "node:assert/strict";
import {
  curl,
  freePort,
  needs,
  readAll,
  run,
  startOrigin,
  startSilentServer,
  startSnoop,
  until,
} from "../helpers/harness.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

/** GETs each URL through the proxy with one curl; how many answered 200. */
async function okThrough(proxyPort: number, urls: string[]): Promise<number> {
  const r = await curl(
    "-x",
    `127.0.0.1:${proxyPort}`,
    "-w",
    "%{http_code}\\n",
    ...urls.flatMap((u) => ["-o", "/dev/null", u]),
  );
  return r.stdout.trim().split("\n").filter((c) => c === "200").length;
}

const proxyWith = (recorder: string, recName = "rec") => `
services:
  - name: p
    addr: 127.0.0.1:0
    recorders: [{ name: ${recName}, record: recorder.service.handler }]
    handler: { type: http }
recorders:
  - name: ${recName}
${recorder}
`;

/**
 * A proxy whose http recorder (`options` beside its url) points at a port where nothing
 * listens yet, and `count` requests through it: their records wait in the queue. The test
 * then starts an endpoint on `hookPort`.
 */
async function recordsHeldFor(count: number, options: string) {
  const origin = await startOrigin();
  const hookPort = freePort();
  const snoop = await startSnoop(
    proxyWith(`    http: { url: "http://127.0.0.1:${hookPort}/", ${options} }`),
  );
  const urls = Array.from({ length: count }, (_, i) => `${origin.url}/held${i}`);
  assert.equal(await okThrough(snoop.port(), urls), count);
  assert.equal(origin.requests.length, count);
  const rec = snoop.recorders.get("rec")!;
  // A retry takes the batch out of the queue for a moment: poll for the resting state.
  await until(() => rec.stats().queued === count, `${count} records held`);
  assert.deepEqual(rec.stats().dropped, {});
  assert.equal(rec.stats().written, 0);
  return {
    hookPort,
    urls,
    rec,
    async stop() {
      await snoop.stop(0);
      await origin.close();
    },
  };
}

Deno.test({
  name: "redis recorder: redis-cli reads the records snoop wrote (set, list, sset)",
  ignore: needs("redis-server", "redis-cli", "curl"),
  async fn() {
    const port = freePort();
    const server = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--requirepass",
        "pw",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const cli = (...args: string[]) =>
      run("redis-cli", ["-p", String(port), "-a", "pw", "--no-auth-warning", ...args]);
    const origin = await startOrigin();
    let snoop;
    try {
      for (let i = 0; i < 100 && (await cli("PING")).stdout.trim() !== "PONG"; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      snoop = await startSnoop(`
services:
  - name: p
    addr: 127.0.0.1:0
    recorders:
      - { name: as-set, record: recorder.service.handler }
      - { name: clients, record: recorder.service.client.address }
      - { name: dials, record: recorder.service.router.dial.address }
    handler: { type: http }
recorders:
  - name: as-set
    redis: { addr: "127.0.0.1:${port}", password: pw, db: 2, key: "snoop:records", type: list }
  - name: clients
    redis: { addr: "127.0.0.1:${port}", password: pw, key: "snoop:clients", type: sset }
  - name: dials
    redis: { addr: "127.0.0.1:${port}", password: pw, key: "snoop:dials", type: set }
`);
      for (const path of ["/r1", "/r2"]) {
        assert.equal(
          (await curl("-x", `127.0.0.1:${snoop.port()}`, `${origin.url}${path}`)).stdout,
          `hello GET ${path} `,
        );
      }
      let list: string[] = [];
      for (let i = 0; i < 100 && list.length < 2; i++) {
        list = (await cli("-n", "2", "LRANGE", "snoop:records", "0", "-1")).stdout.trim().split(
          "\n",
        ).filter(Boolean);
        if (list.length < 2) await new Promise((r) => setTimeout(r, 50));
      }
      const recs = list.map((l) => JSON.parse(l) as Rec).reverse(); // LPUSH: newest first
      assert.deepEqual(recs.map((r) => r.http.uri), [`${origin.url}/r1`, `${origin.url}/r2`]);
      // The client-address recorder counts connections per client IP (sorted set, +1 each).
      let score = "";
      for (let i = 0; i < 100 && score !== "2"; i++) {
        score = (await cli("ZSCORE", "snoop:clients", "127.0.0.1")).stdout.trim();
        if (score !== "2") await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(score, "2");
      // The dial-address recorder adds each dialled host to a set.
      let members = "";
      for (let i = 0; i < 100 && members !== "127.0.0.1"; i++) {
        members = (await cli("SMEMBERS", "snoop:dials")).stdout.trim();
        if (members !== "127.0.0.1") await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(members, "127.0.0.1");
    } finally {
      await snoop?.stop(0);
      await origin.close();
      server.kill("SIGTERM");
      await server.status;
    }
  },
});

Deno.test({
  name: "file recorder writes one record per line and rotates by size",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const origin = await startOrigin();
    const snoop = await startSnoop(
      proxyWith(
        `    file: { path: "${dir}/logs/records.jsonl", sep: "\\n", rotation: { maxSize: 0.001, maxBackups: 10 } }`,
      ),
    );
    try {
      for (let i = 0; i < 6; i++) {
        await curl("-x", `127.0.0.1:${snoop.port()}`, `${origin.url}/f${i}`);
      }
      await until(() => snoop.recorders.get("rec")!.stats().written === 6, "6 records written");
      const files = [...Deno.readDirSync(`${dir}/logs`)].map((e) => e.name).sort();
      assert.ok(files.length >= 2 && files.includes("records.jsonl.1"), files.join(","));
      const lines = files.flatMap((f) =>
        Deno.readTextFileSync(`${dir}/logs/${f}`).split("\n").filter(Boolean)
      );
      assert.equal(lines.length, 6);
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as Rec).http.uri).sort(),
        [0, 1, 2, 3, 4, 5].map((i) => `${origin.url}/f${i}`),
      );
    } finally {
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "tcp recorder sends each record on its own connection",
  ignore: needs("curl"),
  async fn() {
    const sink = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const received: string[] = [];
    const collecting = (async () => {
      for await (const c of sink) {
        received.push(new TextDecoder().decode(await readAll(c)));
        c.close();
      }
    })();
    const origin = await startOrigin();
    const snoop = await startSnoop(
      proxyWith(`    tcp: { addr: "127.0.0.1:${(sink.addr as Deno.NetAddr).port}" }`),
    );
    try {
      await curl("-x", `127.0.0.1:${snoop.port()}`, `${origin.url}/t1`, `${origin.url}/t2`);
      await until(() => received.length === 2, "two connections");
      assert.deepEqual(received.map((r) => (JSON.parse(r) as Rec).http.uri), [
        `${origin.url}/t1`,
        `${origin.url}/t2`,
      ]);
    } finally {
      await snoop.stop(0);
      await origin.close();
      sink.close();
      await collecting.catch(() => {});
    }
  },
});

const heldThenDelivered = [
  {
    name:
      "a recorder endpoint that is down: every proxied request succeeds, records wait and go out once it is up, one per POST",
    count: 20,
    options: "timeout: 1s",
    // Each body is one record, as GOST posts them.
    bodies: (raw: string[]) => assert.ok(raw.every((b) => !Array.isArray(JSON.parse(b)))),
  },
  {
    name:
      "http recorder with batch: waiting records go out as JSON arrays of at most batch records, each once, in order",
    count: 10,
    options: "timeout: 1s, batch: 4",
    bodies: (raw: string[]) =>
      assert.deepEqual(raw.map((b) => (JSON.parse(b) as Rec[]).length), [4, 4, 2]),
  },
];

for (const c of heldThenDelivered) {
  Deno.test({
    name: c.name,
    ignore: needs("curl"),
    async fn() {
      const { startWebhook } = await import("../helpers/harness.ts");
      const held = await recordsHeldFor(c.count, c.options);
      let hook: Awaited<ReturnType<typeof startWebhook>> | undefined;
      try {
        hook = await startWebhook(held.hookPort);
        const got = (await hook.waitFor(c.count)) as Rec[];
        assert.deepEqual(got.map((x) => x.http.uri), held.urls);
        c.bodies(hook.raw);
        await until(() => held.rec.stats().written === c.count, "every record written");
        assert.deepEqual(held.rec.stats().dropped, {});
      } finally {
        await held.stop();
        await hook?.close();
      }
    },
  });
}

Deno.test({
  name:
    "http recorder with batch: a refused POST drops each of its records and counts them, the others are written",
  ignore: needs("curl"),
  async fn() {
    const held = await recordsHeldFor(6, "timeout: 1s, batch: 4");
    const bodies: string[] = [];
    let hook: Awaited<ReturnType<typeof startOrigin>> | undefined;
    try {
      // The first POST (4 records) is refused, the second (2 records) taken.
      hook = await startOrigin(
        (_req, body) => {
          bodies.push(body);
          return new Response(null, { status: bodies.length === 1 ? 400 : 204 });
        },
        undefined,
        held.hookPort,
      );
      await until(() => held.rec.stats().written === 2, "the second POST's 2 records written");
      assert.deepEqual(held.rec.stats().dropped, { error: 4 });
      assert.deepEqual(
        bodies.map((b) => (JSON.parse(b) as Rec[]).map((r) => r.http.uri)),
        [held.urls.slice(0, 4), held.urls.slice(4)],
      );
    } finally {
      await held.stop();
      await hook?.close();
    }
  },
});

Deno.test({
  name: "a recorder endpoint that stays down: the queue holds what fits, the rest is counted",
  ignore: needs("curl"),
  async fn() {
    await using origin = await startOrigin();
    await using snoop = await startSnoop(proxyWith(`    queueSize: 5
    http: { url: "http://127.0.0.1:${freePort()}/", timeout: 1s }`));
    const urls = Array.from({ length: 12 }, (_, i) => `${origin.url}/s${i}`);
    assert.equal(await okThrough(snoop.port(), urls), 12);
    const rec = snoop.recorders.get("rec")!;
    await until(
      () => rec.stats().queued === 5 && rec.stats().dropped.queue_full === 7,
      "5 records held, 7 over the queue",
    );
    assert.deepEqual(rec.stats().dropped, { queue_full: 7 });
    assert.equal(rec.stats().written, 0);
    await snoop.stop(0);
    // Stopping gives up on the five held records and says so.
    assert.deepEqual(rec.stats().dropped, { queue_full: 7, shutdown: 5 });
  },
});

Deno.test({
  name:
    "a recorder endpoint that hangs: proxied requests all succeed, the full queue drops and counts",
  ignore: needs("curl"),
  async fn() {
    const hang = startSilentServer();
    const origin = await startOrigin();
    const snoop = await startSnoop(proxyWith(`    queueSize: 5
    http: { url: "http://127.0.0.1:${hang.port}/", timeout: 30s }`));
    try {
      const urls = Array.from({ length: 30 }, (_, i) => `${origin.url}/h${i}`);
      assert.equal(await okThrough(snoop.port(), urls), 30);
      const stats = snoop.recorders.get("rec")!.stats();
      // One record is in flight (hanging), five wait in the queue, the rest were dropped.
      assert.equal(stats.queued, 5);
      assert.equal(stats.dropped.queue_full, 24);
    } finally {
      await snoop.stop(0);
      await hang.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "the http recorder ignores HTTP_PROXY and HTTPS_PROXY",
  ignore: needs("curl"),
  async fn() {
    const { startWebhook } = await import("../helpers/harness.ts");
    const hook = await startWebhook();
    const origin = await startOrigin();
    const saved = { http: Deno.env.get("HTTP_PROXY"), https: Deno.env.get("HTTPS_PROXY") };
    // A proxy that does not exist: a recorder that used it would deliver nothing.
    Deno.env.set("HTTP_PROXY", `http://127.0.0.1:${freePort()}`);
    Deno.env.set("HTTPS_PROXY", `http://127.0.0.1:${freePort()}`);
    const snoop = await startSnoop(proxyWith(`    http: { url: "${hook.url}" }`));
    try {
      await curl("-x", `127.0.0.1:${snoop.port()}`, `${origin.url}/env`);
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.http.uri, `${origin.url}/env`);
    } finally {
      for (const [k, v] of [["HTTP_PROXY", saved.http], ["HTTPS_PROXY", saved.https]] as const) {
        if (v === undefined) Deno.env.delete(k);
        else Deno.env.set(k, v);
      }
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "dial address records: every dialled host, and the hosts whose dial failed",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const origin = await startOrigin();
    const snoop = await startSnoop(`
services:
  - name: p
    addr: 127.0.0.1:0
    recorders:
      - { name: dials, record: recorder.service.router.dial.address }
      - { name: failures, record: recorder.service.router.dial.address.error }
    handler: { type: http }
recorders:
  - { name: dials, file: { path: "${dir}/dials.txt", sep: "\\n" } }
  - { name: failures, file: { path: "${dir}/failures.txt", sep: "\\n" } }
`);
    try {
      await curl("-x", `127.0.0.1:${snoop.port()}`, `${origin.url}/ok`);
      const dead = freePort();
      await curl("-x", `127.0.0.1:${snoop.port()}`, `http://localhost:${dead}/down`);
      await until(
        () => snoop.recorders.get("failures")!.stats().written === 1,
        "the failed dial record",
      );
      await until(() => snoop.recorders.get("dials")!.stats().written === 2, "both dial records");
      assert.equal(await Deno.readTextFile(`${dir}/dials.txt`), "127.0.0.1\nlocalhost\n");
      assert.equal(await Deno.readTextFile(`${dir}/failures.txt`), "localhost\n");
    } finally {
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
