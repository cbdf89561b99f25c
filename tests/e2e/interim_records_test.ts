import assert from "node:assert/strict";
import { App } from "../../src/app/app.ts";
import { ConfigError } from "../../src/config/config_error.ts";
import { mergeConfigs, parseConfigText } from "../../src/config/load.ts";
import { Logger } from "../../src/util/log.ts";
import { decode, encode, startSnoop, startWebhook, until } from "../helpers/harness.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

const config = (hook: string, metadata: string) => `
services:
  - name: long
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http, metadata: { ${metadata} } }
recorders: [{ name: hook, http: { url: "${hook}" } }]
`;

/** A TCP server that echoes what it gets; `close()` stops it and its connections. */
function echoServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      void conn.readable.pipeTo(conn.writable).catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}

/** Opens a CONNECT tunnel through snoop to `port`, and returns the connection. */
async function connectTunnel(proxyPort: number, port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  await conn.write(encode(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  assert.match(decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
  return conn;
}

async function echo(conn: Deno.Conn, text: string) {
  await conn.write(encode(text));
  const buf = new Uint8Array(text.length);
  let got = 0;
  while (got < text.length) {
    const n = await conn.read(buf.subarray(got));
    if (n === null) throw new Error("closed");
    got += n;
  }
  assert.equal(decode(buf), text);
}

for (const sniffing of [true, false]) {
  Deno.test(`interim records: a tunnel open past two intervals (sniffing ${sniffing})`, async () => {
    await using hook = await startWebhook();
    await using snoop = await startSnoop(
      config(hook.url, `sniffing: ${sniffing}, sniffing.interval: 200ms`),
    );
    const origin = echoServer();
    try {
      const conn = await connectTunnel(snoop.port(), origin.port);
      await echo(conn, "hello"); // an unknown protocol: the tunnel's own record
      await until(() => hook.records.length >= 1, "a first interim record");
      await echo(conn, "more bytes");
      await until(() => hook.records.length >= 2, "a second interim record");
      conn.close();
      await until(() => hook.records.some((r: Rec) => !r.interim), "the final record");
      await new Promise((r) => setTimeout(r, 50));
      const recs = hook.records as Rec[];
      const interim = recs.filter((r) => r.interim === true);
      const final = recs.filter((r) => !r.interim);
      assert.ok(interim.length >= 2, JSON.stringify(recs));
      assert.equal(final.length, 1);
      assert.equal(recs.at(-1), final[0], "the final record comes last");
      const sid = final[0].sid;
      for (const r of interim) {
        assert.equal(r.sid, sid);
        assert.equal(r.host, `127.0.0.1:${origin.port}`);
        assert.equal(r.http.method, "CONNECT");
      }
      // Bytes so far, on top of the CONNECT exchange's: the first interim record saw
      // "hello" each way, the last one all 15 bytes, as the final record does.
      const { inputBytes: inTotal, outputBytes: outTotal } = final[0];
      assert.equal(interim[0].inputBytes, inTotal - 10);
      assert.equal(interim[0].outputBytes, outTotal - 10);
      assert.equal(interim.at(-1)!.inputBytes, inTotal);
      assert.equal(interim.at(-1)!.outputBytes, outTotal);
      assert.ok(interim[1].duration > interim[0].duration);
      assert.equal("interim" in final[0], false);
    } finally {
      await origin.close();
    }
  });
}

Deno.test("interim records: an HTTP/1 response still streaming in a sniffed tunnel", async () => {
  await using hook = await startWebhook();
  await using snoop = await startSnoop(
    config(hook.url, "sniffing: true, sniffing.interval: 200ms"),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    () => {
      let i = 0;
      const body = new ReadableStream<Uint8Array>({
        pull: (c) =>
          new Promise((resolve) => {
            timer = setTimeout(() => {
              if (i++ < 6) c.enqueue(encode("tick\n"));
              else c.close();
              resolve();
            }, 100);
          }),
        cancel: () => clearTimeout(timer),
      });
      return new Response(body);
    },
  );
  try {
    const conn = await connectTunnel(snoop.port(), server.addr.port);
    await conn.write(encode(`GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    const buf = new Uint8Array(4096);
    while ((await conn.read(buf)) !== null) { /* the whole response */ }
    conn.close();
    await until(() => hook.records.some((r: Rec) => !r.interim), "the final record");
    const recs = hook.records as Rec[];
    const interim = recs.filter((r) => r.interim);
    assert.ok(interim.length >= 2, JSON.stringify(recs));
    for (const r of interim) {
      assert.equal(r.http.method, "GET");
      assert.equal(r.http.uri, "/slow");
      assert.equal(r.http.statusCode, 200);
    }
    assert.ok(interim.at(-1)!.outputBytes > interim[0].outputBytes);
    assert.equal(recs.at(-1)!.http.uri, "/slow");
    assert.equal(recs.at(-1)!.interim, undefined);
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("sniffing.interval and sniffing.sse.sampleRate: bad values name file, line and key", async () => {
  const check = async (metadata: string) => {
    try {
      const yaml =
        `services:\n  - name: s\n    addr: 127.0.0.1:0\n    handler:\n      type: http\n      metadata:\n        ${metadata}\n`;
      const app = await App.build(
        mergeConfigs([parseConfigText("snoop.yaml", yaml)]),
        new Logger(),
      );
      await app.stop(0);
      return "ok";
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
  };
  assert.equal(
    await check("sniffing.interval: 10ms"),
    "snoop.yaml:7:9: services[0].handler.metadata.sniffing.interval: expected at least 100ms (or 0 = off), got 10ms",
  );
  assert.match(
    await check("sniffing.interval: soon"),
    /^snoop\.yaml:7:9: services\[0\]\.handler\.metadata\.sniffing\.interval: expected a duration/,
  );
  assert.equal(
    await check("sniffing.sse.sampleRate: fast"),
    'snoop.yaml:7:9: services[0].handler.metadata.sniffing.sse.sampleRate: expected a number, got "fast"',
  );
  assert.equal(await check("sniffing.interval: 1m"), "ok");
  assert.equal(await check("sniffing.sse: true"), "ok");
});
