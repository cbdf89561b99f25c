import assert from "node:assert/strict";
import net from "node:net";
import { curl, needs, startOrigin, startSnoop, startWebhook, until } from "../helpers/harness.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

/** An origin on 127.0.0.2: loopback too, but outside 127.0.0.1/32. */
function originOn127_0_0_2(): { port: number; close(): Promise<void> } {
  const server = Deno.serve(
    { hostname: "127.0.0.2", port: 0, onListen: () => {} },
    () => new Response("allowed"),
  );
  return { port: server.addr.port, close: () => server.shutdown() };
}

/** /metrics as Prometheus scrapes it: with the UI's token as a bearer token. */
async function metrics(snoop: { uiAddr?: Deno.NetAddr; uiToken?: string | null }): Promise<string> {
  const url = `http://127.0.0.1:${snoop.uiAddr!.port}/metrics`;
  return (await curl("-s", "-H", `Authorization: Bearer ${snoop.uiToken}`, url)).stdout;
}

Deno.test({
  name:
    "egress deny list: loopback refused by IP and by name (403, SOCKS 0x02), allow-listed range dialled",
  ignore: needs("curl"),
  async fn() {
    const hook = await startWebhook();
    const origin = await startOrigin();
    const other = originOn127_0_0_2();
    const snoop = await startSnoop(`
services:
  - name: egress
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: auto
      metadata:
        egress.deny: [loopback, private, metadata]
        egress.allow: [127.0.0.2/32]
recorders:
  - { name: hook, http: { url: "${hook.url}" } }
  - { name: store, store: { path: ":memory:" } }
ui: { addr: "127.0.0.1:0", store: store }
`);
    try {
      const proxy = `127.0.0.1:${snoop.port()}`;
      const code = async (...args: string[]) =>
        (await curl("-s", "-o", "/dev/null", "-w", "%{http_code}%{http_connect}", ...args)).stdout;
      assert.equal(await code("-x", proxy, `${origin.url}/a`), "403000");
      assert.equal(await code("-x", proxy, `http://localhost:${origin.port}/b`), "403000");
      assert.equal(await code("-p", "-x", proxy, `${origin.url}/c`), "000403");
      const socks = await curl("-s", "--socks5", proxy, `${origin.url}/d`);
      assert.equal(socks.code, 97, "curl: SOCKS5 request rejected"); // reply 0x02
      const allowed = await curl("-s", "-x", proxy, `http://127.0.0.2:${other.port}/`);
      assert.equal(allowed.stdout, "allowed");
      assert.equal(origin.requests.length, 0, "nothing reached the denied origin");
      const recs = (await hook.waitFor(5)) as Rec[];
      const errs = recs.map((r) => r.err).filter(Boolean).sort();
      assert.deepEqual(errs, [
        `dial 127.0.0.1:${origin.port}: destination 127.0.0.1 is denied (egress.deny loopback: 127.0.0.0/8)`,
        `dial 127.0.0.1:${origin.port}: destination 127.0.0.1 is denied (egress.deny loopback: 127.0.0.0/8)`,
        `dial 127.0.0.1:${origin.port}: destination 127.0.0.1 is denied (egress.deny loopback: 127.0.0.0/8)`,
        `dial localhost:${origin.port}: destination localhost resolves to 127.0.0.1, which is denied (egress.deny loopback: 127.0.0.0/8)`,
      ]);
      assert.match(
        await metrics(snoop),
        /snoop_limit_hits_total\{service="egress",limit="egress-denied"\} 4/,
      );
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
      await other.close();
    }
  },
});

Deno.test({
  name:
    "connection caps: a client over maxConnectionsPerClient is closed at once, recorded and counted",
  ignore: needs("curl"),
  async fn() {
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: capped
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http, metadata: { maxConnectionsPerClient: 2, maxConnections: 3 } }
recorders:
  - { name: hook, http: { url: "${hook.url}" } }
  - { name: store, store: { path: ":memory:" } }
ui: { addr: "127.0.0.1:0", store: store }
`);
    const open: net.Socket[] = [];
    /** A connection from `from` (any 127/8 address): its close, or null while it stays open. */
    const connect = async (from: string) => {
      const socket = net.connect({ host: "127.0.0.1", port: snoop.port(), localAddress: from });
      const closed = new Promise<string>((r) => socket.once("close", () => r("closed")));
      await new Promise<void>((r, e) => socket.once("connect", r).once("error", e));
      open.push(socket);
      return { closed };
    };
    /** "closed", or "open" when the connection is still up after a moment. */
    const state = ({ closed }: { closed: Promise<string> }) => {
      let timer: ReturnType<typeof setTimeout>;
      return Promise.race([
        closed,
        new Promise<string>((r) => timer = setTimeout(() => r("open"), 300)),
      ]).finally(() => clearTimeout(timer));
    };
    try {
      // 127.0.0.1 takes its share of two; a third from it is closed at once.
      const a = await connect("127.0.0.1"), b = await connect("127.0.0.1");
      await until(() => snoop.services[0].active === 2, "two connections served");
      assert.equal(await state(await connect("127.0.0.1")), "closed");
      // Another client still gets in, up to the global cap of three; a fourth client does not.
      const c = await connect("127.0.0.3");
      assert.equal(await state(c), "open");
      assert.equal(await state(await connect("127.0.0.4")), "closed");
      assert.equal(await state(a), "open");
      assert.equal(await state(b), "open");
      for (const s of open) s.destroy();
      open.length = 0;
      await until(() => snoop.services[0].active === 0, "connections closed");
      const ok = await curl(
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-x",
        `127.0.0.1:${snoop.port()}`,
        "http://127.0.0.1:1/",
      );
      assert.equal(ok.stdout, "502", "once the clients leave, requests are served again");
      const recs = (await hook.waitFor(3)) as Rec[];
      assert.deepEqual(recs.map((r) => r.err).sort(), [
        "connection limit for 127.0.0.1 reached (maxConnectionsPerClient 2)",
        "connection limit reached (maxConnections 3)",
        "dial 127.0.0.1:1: Connection refused (os error 111)",
      ]);
      const m = await metrics(snoop);
      assert.match(
        m,
        /snoop_limit_hits_total\{service="capped",limit="connections-per-client"\} 1/,
      );
      assert.match(m, /snoop_limit_hits_total\{service="capped",limit="connections"\} 1/);
    } finally {
      for (const s of open) s.destroy();
      await snoop.stop(0);
      await hook.close();
    }
  },
});

Deno.test({
  name:
    "configured HTTP limits answer 431/414 with a record; header deadline and auth failures are counted",
  ignore: needs("curl"),
  async fn() {
    const hook = await startWebhook();
    const origin = await startOrigin();
    const snoop = await startSnoop(`
services:
  - name: strict
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: http
      auth: { username: u, password: p }
      metadata: { http.maxHeaders: 8, http.maxRequestLine: 200, headerTimeout: 300ms }
recorders:
  - { name: hook, http: { url: "${hook.url}" } }
  - { name: store, store: { path: ":memory:" } }
ui: { addr: "127.0.0.1:0", store: store }
`);
    try {
      const proxy = `127.0.0.1:${snoop.port()}`;
      const code = async (...args: string[]) =>
        (await curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy, ...args)).stdout;
      const many = Array.from({ length: 10 }, (_, i) => ["-H", `X-Many-${i}: ${i}`]).flat();
      assert.equal(await code("-U", "u:p", ...many, `${origin.url}/many`), "431");
      assert.equal(await code("-U", "u:p", `${origin.url}/${"x".repeat(300)}`), "414");
      assert.equal(await code("-U", "u:wrong", `${origin.url}/bad-auth`), "407");
      assert.equal(await code("-U", "u:p", `${origin.url}/fine`), "200");
      // A client that sends half a request head and stops: 408-style close at the deadline.
      const slow = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
      await slow.write(new TextEncoder().encode("GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n"));
      assert.equal(await slow.read(new Uint8Array(64)).catch(() => null), null);
      slow.close();
      const recs = (await hook.waitFor(5)) as Rec[];
      const errs = recs.map((r) => r.err ?? "").sort();
      assert.deepEqual(errs, [
        "",
        "proxy authentication required",
        "request line too long",
        "timeout while reading request header",
        "too many header fields",
      ]);
      assert.equal(origin.requests.length, 1);
      const m = await metrics(snoop);
      assert.match(m, /snoop_limit_hits_total\{service="strict",limit="http-head-size"\} 2/);
      assert.match(m, /snoop_limit_hits_total\{service="strict",limit="header-timeout"\} 1/);
      assert.match(m, /snoop_auth_failures_total\{service="strict"\} 1/);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});
