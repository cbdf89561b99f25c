import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { App } from "../../src/app/app.ts";
import { ConfigError } from "../../src/config/config_error.ts";
import { mergeConfigs, parseConfigText } from "../../src/config/load.ts";
import { Logger } from "../../src/util/log.ts";
import {
  curl,
  decode,
  encode,
  needs,
  startSnoop,
  startWebhook,
  until,
} from "../helpers/harness.ts";

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

for (const via of ["a sniffed tunnel", "the forward proxy"]) {
  Deno.test(`interim records: an HTTP/1 response still streaming through ${via}`, async () => {
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
      const port = server.addr.port;
      const conn = via === "the forward proxy"
        ? await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() })
        : await connectTunnel(snoop.port(), port);
      const target = via === "the forward proxy" ? `http://127.0.0.1:${port}/slow` : "/slow";
      await conn.write(
        encode(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`),
      );
      const buf = new Uint8Array(4096);
      while ((await conn.read(buf)) !== null) { /* the whole response */ }
      conn.close();
      await until(() => hook.records.some((r: Rec) => !r.interim), "the final record");
      const recs = hook.records as Rec[];
      const interim = recs.filter((r) => r.interim);
      assert.ok(interim.length >= 2, JSON.stringify(recs));
      for (const r of interim) {
        assert.equal(r.http.method, "GET");
        assert.equal(r.http.uri, target);
        assert.equal(r.http.response.body, null);
        assert.equal(r.http.statusCode, 200);
      }
      assert.ok(interim.at(-1)!.outputBytes > interim[0].outputBytes);
      assert.equal(recs.at(-1)!.http.uri, target);
      assert.equal(recs.filter((r) => !r.interim).length, 1);
      assert.equal(recs.at(-1)!.interim, undefined);
    } finally {
      ac.abort();
      await server.finished;
    }
  });
}

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

Deno.test({
  name: "interim records: an HTTP/2 stream still open in a sniffed h2c tunnel",
  ignore: needs("curl"),
  async fn() {
    await using hook = await startWebhook();
    await using snoop = await startSnoop(
      config(hook.url, "sniffing: true, sniffing.interval: 200ms"),
    );
    const server = http2.createServer();
    server.on("stream", (stream) => {
      stream.on("error", () => {});
      stream.respond({ ":status": 200, "content-type": "text/plain" });
      let i = 0;
      const tick = setInterval(() => {
        if (i++ < 6) stream.write("tick\n");
        else {
          clearInterval(tick);
          stream.end();
        }
      }, 100);
      stream.on("close", () => clearInterval(tick));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await curl(
        ...["--http2-prior-knowledge", "-p", "-x", `127.0.0.1:${snoop.port()}`],
        `http://127.0.0.1:${port}/h2slow`,
      );
      assert.equal(r.code, 0, r.stderr);
      await until(() => hook.records.some((r: Rec) => !r.interim), "the final record");
      const recs = hook.records as Rec[];
      const interim = recs.filter((r) => r.interim);
      assert.ok(interim.length >= 2, JSON.stringify(recs));
      for (const r of interim) {
        assert.equal(r.http.proto, "HTTP/2.0");
        assert.equal(r.http.uri, "/h2slow");
        assert.equal(r.http.statusCode, 200);
      }
      assert.ok(interim.at(-1)!.outputBytes > interim[0].outputBytes);
      assert.equal(recs.at(-1)!.http.uri, "/h2slow");
      assert.equal(recs.filter((r) => !r.interim).length, 1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  },
});
