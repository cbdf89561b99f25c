import assert from "node:assert/strict";
import {
  curl,
  decode,
  encode,
  needs,
  readAll,
  startOrigin,
  startSilentServer,
  startSnoop,
  startWebhook,
} from "../helpers/harness.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

Deno.test({
  name: "relay half-close: the client's FIN reaches the server and its late reply still arrives",
  async fn() {
    // The server answers only after it has read to EOF.
    const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const serving = (async () => {
      const c = await server.accept();
      const got = decode(await readAll(c));
      await c.write(encode(`got ${got.length} bytes: ${got}`));
      c.close();
    })();
    const snoop = await startSnoop(`
services:
  - name: f
    addr: 127.0.0.1:0
    handler: { type: tcp }
    forwarder: { nodes: [{ name: t, addr: "127.0.0.1:${(server.addr as Deno.NetAddr).port}" }] }
`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
      await conn.write(encode("request-body"));
      await conn.closeWrite();
      assert.equal(decode(await readAll(conn)), "got 12 bytes: request-body");
      conn.close();
      await serving;
    } finally {
      await snoop.stop(0);
      server.close();
    }
  },
});

Deno.test({
  name: "relay idle timeout closes a silent tunnel and the record says so",
  async fn() {
    const server = startSilentServer();
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: f
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: tcp, metadata: { idleTimeout: 300ms } }
    forwarder: { nodes: [{ name: t, addr: "127.0.0.1:${server.port}" }] }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
      await conn.write(encode("x"));
      // Nothing more either way: snoop closes the tunnel, the client sees EOF.
      assert.equal((await readAll(conn)).length, 0);
      conn.close();
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.err, "idle timeout");
      assert.equal(rec.inputBytes, 1);
      assert.equal(snoop.services[0].sink.counters.limits.get("tunnel-idle"), 1);
    } finally {
      await snoop.stop(0);
      await server.close();
      await hook.close();
    }
  },
});

Deno.test({
  name: "http proxy answers 504 when the upstream does not answer within readTimeout",
  ignore: needs("curl"),
  async fn() {
    const server = startSilentServer();
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: p
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http, metadata: { readTimeout: 300ms } }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const r = await curl(
        "-x",
        `127.0.0.1:${snoop.port()}`,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `http://127.0.0.1:${server.port}/slow`,
      );
      assert.equal(r.stdout, "504");
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.http.statusCode, 504);
      assert.equal(rec.err, "timeout waiting for the upstream response");
    } finally {
      await snoop.stop(0);
      await server.close();
      await hook.close();
    }
  },
});

Deno.test({
  name: "socks5 and http CONNECT reach IPv6 targets",
  ignore: needs("curl"),
  async fn() {
    const ac = new AbortController();
    let listening!: (port: number) => void;
    const portReady = new Promise<number>((r) => listening = r);
    const server = Deno.serve({
      hostname: "::1",
      port: 0,
      signal: ac.signal,
      onListen: ({ port }) => listening(port),
    }, () => new Response("v6"));
    const port = await portReady;
    const snoop = await startSnoop(
      `services: [{ name: a, addr: "127.0.0.1:0", handler: { type: auto } }]`,
    );
    try {
      const p = `127.0.0.1:${snoop.port()}`;
      assert.equal((await curl("--socks5", p, `http://[::1]:${port}/`)).stdout, "v6");
      assert.equal((await curl("-p", "-x", p, `http://[::1]:${port}/`)).stdout, "v6");
      assert.equal((await curl("-x", p, `http://[::1]:${port}/`)).stdout, "v6");
    } finally {
      await snoop.stop(0);
      ac.abort();
      await server.finished;
    }
  },
});

Deno.test({
  name: "the http recorder sends configured headers",
  ignore: needs("curl"),
  async fn() {
    const seen: string[] = [];
    const hook = await startOrigin((req) => {
      seen.push(`${req.headers.get("authorization")} ${req.headers.get("content-type")}`);
      return new Response("ok");
    });
    const origin = await startOrigin();
    const snoop = await startSnoop(`
services:
  - name: p
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http }
recorders: [{ name: hook, http: { url: "${hook.url}", header: { Authorization: "Bearer t0ken" } } }]
`);
    try {
      await curl("-x", `127.0.0.1:${snoop.port()}`, `${origin.url}/h`);
      for (let i = 0; i < 100 && seen.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(seen, ["Bearer t0ken application/json"]);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "requests through snoop to snoop's own listeners and UI are refused, not looped",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: a
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: auto }
recorders:
  - { name: hook, http: { url: "${hook.url}" } }
  - { name: store, store: { path: "${dir}/r.db" } }
ui: { addr: "127.0.0.1:0", store: store }
`);
    try {
      const p = snoop.port();
      const ui = snoop.uiAddr!.port;
      const code = async (...args: string[]) =>
        (await curl("-o", "/dev/null", "-w", "%{http_code}%{http_connect}", ...args)).stdout;
      assert.equal(await code("-x", `127.0.0.1:${p}`, `http://127.0.0.1:${p}/`), "403000");
      assert.equal(
        await code("-x", `127.0.0.1:${p}`, `http://localhost:${ui}/api/records`),
        "403000",
      );
      assert.equal(await code("-p", "-x", `127.0.0.1:${p}`, `http://127.0.0.1:${p}/`), "000403");
      const socks = await curl("--socks5", `127.0.0.1:${p}`, `http://127.0.0.1:${ui}/`);
      assert.notEqual(socks.code, 0);
      const recs = (await hook.waitFor(4)) as Rec[];
      assert.ok(
        recs.every((r) => r.err === "the target is snoop itself"),
        JSON.stringify(recs.map((r) => r.err)),
      );
    } finally {
      await snoop.stop(0);
      await hook.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "relay idle timeout spares a tunnel that keeps talking, past several idle periods",
  async fn() {
    const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const echoing = (async () => {
      const conn = await echo.accept();
      const buf = new Uint8Array(64);
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        await conn.write(buf.subarray(0, n));
      }
      conn.close();
    })();
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: f
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: tcp, metadata: { idleTimeout: 200ms } }
    forwarder: { nodes: [{ name: t, addr: "127.0.0.1:${(echo.addr as Deno.NetAddr).port}" }] }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
      const buf = new Uint8Array(8);
      // A byte every 80 ms for 800 ms: four idle periods long, never 200 ms silent.
      for (let i = 0; i < 10; i++) {
        await conn.write(encode("p"));
        assert.equal(await conn.read(buf), 1, `echo ${i} came back`);
        await new Promise((r) => setTimeout(r, 80));
      }
      conn.close();
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.err, undefined);
      assert.equal(rec.inputBytes, 10);
      assert.equal(snoop.services[0].sink.counters.limits.get("tunnel-idle"), undefined);
    } finally {
      await snoop.stop(0);
      await echoing.catch(() => {});
      echo.close();
      await hook.close();
    }
  },
});
