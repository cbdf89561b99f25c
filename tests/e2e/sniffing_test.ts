import assert from "node:assert/strict";
import {
  curl,
  needs,
  run,
  sniffingForwarder,
  startOrigin,
  startSilentServer,
  startSnoop,
  startWebhook,
  testCert,
} from "../helpers/harness.ts";
import { h2Request } from "../helpers/h2_request.ts";

/** The seed's first YAML example with the ports moved to loopback test ports. */
async function seedConfig(webhookUrl: string, sniffing = true): Promise<string> {
  const yaml = await Deno.readTextFile("examples/seed-sniffing.yaml");
  return yaml.replace("addr: :8080", "addr: 127.0.0.1:0")
    .replace("url: http://localhost:8000", `url: ${webhookUrl}`)
    .replace("sniffing: true", `sniffing: ${sniffing}`);
}

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

Deno.test({
  name:
    "seed example: curl -p -x through the sniffing proxy records the HTTP request as the seed shows",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin(() =>
      new Response("<!doctype html>\n<p>Example Domain</p>\n", {
        headers: { "Content-Type": "text/html; charset=UTF-8", "Etag": '"3147526947+gzip"' },
      })
    );
    const hook = await startWebhook();
    const snoop = await startSnoop(await seedConfig(hook.url));
    try {
      const r = await curl(
        "-p",
        "-x",
        `localhost:${snoop.port()}`,
        `http://www.example.com:${origin.port}/`,
        "--connect-to",
        `www.example.com:${origin.port}:127.0.0.1:${origin.port}`,
      );
      assert.match(r.stdout, /Example Domain/);
      const [rec] = (await hook.waitFor(1)) as Rec[];
      // Field names, order and values as in the seed's first record (and snoop's timings).
      assert.deepEqual(Object.keys(rec), [
        "service",
        "network",
        "remote",
        "local",
        "client",
        "src",
        "dst",
        "host",
        "proto",
        "clientIP",
        "http",
        "timings",
        "route",
        "inputBytes",
        "outputBytes",
        "sid",
        "duration",
        "time",
      ]);
      assert.equal(rec.service, "service-0");
      assert.equal(rec.network, "tcp");
      assert.match(rec.remote, /^(127\.0\.0\.1|\[::1\]):\d+$/);
      assert.equal(
        rec.local,
        rec.remote.startsWith("[") ? `[::1]:${snoop.port()}` : `127.0.0.1:${snoop.port()}`,
      );
      assert.equal(rec.host, `www.example.com:${origin.port}`);
      assert.equal(rec.proto, "http");
      assert.equal(rec.clientIP, rec.remote.replace(/^\[?(.*?)\]?:\d+$/, "$1"));
      assert.deepEqual(Object.keys(rec.http), [
        "host",
        "method",
        "proto",
        "scheme",
        "uri",
        "statusCode",
        "request",
        "response",
      ]);
      assert.equal(rec.http.host, `www.example.com:${origin.port}`);
      assert.equal(rec.http.method, "GET");
      assert.equal(rec.http.proto, "HTTP/1.1");
      assert.equal(rec.http.scheme, "");
      assert.equal(rec.http.uri, "/");
      assert.equal(rec.http.statusCode, 200);
      assert.deepEqual(rec.http.request, {
        contentLength: 0,
        header: { "Accept": ["*/*"], "User-Agent": [rec.http.request.header["User-Agent"][0]] },
        body: null,
      });
      assert.match(rec.http.request.header["User-Agent"][0], /^curl\//);
      assert.equal(
        rec.http.response.contentLength,
        "<!doctype html>\n<p>Example Domain</p>\n".length,
      );
      assert.deepEqual(rec.http.response.header["Etag"], ['"3147526947+gzip"']);
      assert.equal(atob(rec.http.response.body), "<!doctype html>\n<p>Example Domain</p>\n");
      // route is what was dialled: the CONNECT target, which --connect-to pointed at 127.0.0.1.
      assert.equal(rec.route, `127.0.0.1:${origin.port}`);
      assert.match(rec.sid, /^[0-9a-v]{20}$/);
      assert.ok(Number.isInteger(rec.duration) && rec.duration > 0);
      assert.match(rec.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/);
      // The raw JSON escapes <, > and & as Go does.
      assert.match(hook.raw[0], /"host":"www\.example\.com:\d+"/);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "seed example: with sniffing off the CONNECT itself is recorded with status 200",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin();
    const hook = await startWebhook();
    const snoop = await startSnoop(await seedConfig(hook.url, false));
    try {
      await curl("-p", "-x", `127.0.0.1:${snoop.port()}`, `${origin.url}/`);
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.proto, "http");
      assert.equal(rec.http.method, "CONNECT");
      assert.equal(rec.http.host, `127.0.0.1:${origin.port}`);
      assert.equal(rec.http.uri, `127.0.0.1:${origin.port}`);
      assert.equal(rec.http.statusCode, 200);
      assert.deepEqual(rec.http.request.header["Proxy-Connection"], ["Keep-Alive"]);
      assert.deepEqual(Object.keys(rec.http.response.header), ["Proxy-Agent"]);
      assert.ok(rec.inputBytes > 0 && rec.outputBytes > 0);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "seed example: curl -x https:// through the sniffing proxy records the TLS handshake",
  ignore: needs("curl", "openssl"),
  async fn() {
    const cert = await testCert();
    const origin = await startOrigin(() => new Response("tls ok"), cert);
    const hook = await startWebhook();
    const snoop = await startSnoop(await seedConfig(hook.url));
    try {
      const r = await curl(
        "--cacert",
        cert.certFile,
        "-x",
        `127.0.0.1:${snoop.port()}`,
        `https://localhost:${origin.port}/`,
      );
      assert.equal(r.stdout, "tls ok", r.stderr);
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.proto, "tls");
      assert.equal(rec.host, `localhost:${origin.port}`);
      assert.equal(rec.http.method, "CONNECT");
      assert.equal(rec.http.statusCode, 200);
      assert.deepEqual(Object.keys(rec.tls), [
        "serverName",
        "cipherSuite",
        "compressionMethod",
        "proto",
        "version",
        "clientHello",
        "serverHello",
        "ja3",
        "ja3String",
        "ja4",
      ]);
      assert.match(rec.tls.ja3, /^[0-9a-f]{32}$/);
      assert.match(rec.tls.ja4, /^t13d\d{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$/);
      assert.equal(rec.tls.serverName, "localhost");
      assert.equal(rec.tls.version, "tls1.3");
      assert.match(
        rec.tls.cipherSuite,
        /^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/,
      );
      assert.equal(rec.tls.compressionMethod, 0);
      assert.equal(rec.tls.proto, "h2");
      assert.match(rec.tls.clientHello, /^160301[0-9a-f]{4}01/);
      assert.match(rec.tls.serverHello, /^160303[0-9a-f]{4}02/);
      assert.equal(rec.err, undefined);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "openssl s_client through CONNECT: SNI, ALPN, version and cipher suite for TLS 1.2 and 1.3",
  ignore: needs("openssl"),
  async fn() {
    const cert = await testCert();
    const origin = await startOrigin(() => new Response("x"), cert);
    const hook = await startWebhook();
    const snoop = await startSnoop(await seedConfig(hook.url));
    try {
      const base = [
        "s_client",
        "-proxy",
        `127.0.0.1:${snoop.port()}`,
        "-connect",
        `localhost:${origin.port}`,
        "-servername",
        "api.localhost",
        "-alpn",
        "http/1.1",
        "-CAfile",
        cert.certFile,
      ];
      const v12 = await run("openssl", [
        ...base,
        "-tls1_2",
        "-cipher",
        "ECDHE-RSA-AES128-GCM-SHA256",
      ], { stdin: "" });
      assert.match(v12.stdout, /Protocol\s*: TLSv1\.2/, v12.stderr);
      const v13 = await run("openssl", [...base, "-tls1_3"], { stdin: "" });
      assert.match(v13.stdout, /TLSv1\.3/);
      const recs = (await hook.waitFor(2)) as Rec[];
      const t12 = recs.find((r) => r.tls.version === "tls1.2")!;
      assert.equal(t12.tls.serverName, "api.localhost");
      assert.equal(t12.tls.cipherSuite, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
      assert.equal(t12.tls.proto, "http/1.1", "TLS 1.2 shows the server's ALPN choice");
      const t13 = recs.find((r) => r.tls.version === "tls1.3")!;
      assert.equal(t13.tls.serverName, "api.localhost");
      assert.equal(t13.tls.proto, "http/1.1");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "sniffed tunnel: three keep-alive requests give three records",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin();
    const hook = await startWebhook();
    const snoop = await startSnoop(await seedConfig(hook.url));
    try {
      const r = await curl(
        "-p",
        "-x",
        `127.0.0.1:${snoop.port()}`,
        `${origin.url}/a`,
        `${origin.url}/b`,
        "--data-binary",
        "body-c",
        `${origin.url}/c`,
      );
      assert.equal(r.stdout, "hello POST /a body-chello POST /b body-chello POST /c body-c");
      const recs = (await hook.waitFor(3)) as Rec[];
      assert.deepEqual(recs.map((x) => x.http.uri), ["/a", "/b", "/c"]);
      assert.ok(
        recs.every((x) =>
          x.http.request.contentLength === 6 && atob(x.http.request.body) === "body-c"
        ),
      );
      assert.equal(new Set(recs.map((x) => x.sid)).size, 1);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(hook.records.length, 3, "no extra connection record");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "sniffed tunnel: curl --http2-prior-knowledge gives an HTTP/2.0 record per stream",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin((req, body) =>
      new Response(`h2 ${new URL(req.url).pathname} ${body}`, { headers: { "X-H2": "yes" } })
    );
    const hook = await startWebhook();
    const snoop = await startSnoop(await seedConfig(hook.url));
    try {
      // (curl 7.88 cannot reuse a prior-knowledge connection for a second URL: one per run.)
      const r = await curl(
        "--http2-prior-knowledge",
        "-p",
        "-x",
        `127.0.0.1:${snoop.port()}`,
        "--data-binary",
        "d",
        `${origin.url}/one`,
      );
      assert.equal(r.stdout, "h2 /one d");
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.http.proto, "HTTP/2.0");
      assert.equal(rec.http.method, "POST");
      assert.equal(rec.http.scheme, "http");
      assert.equal(rec.http.uri, "/one");
      assert.equal(rec.http.host, `127.0.0.1:${origin.port}`);
      assert.equal(rec.host, `127.0.0.1:${origin.port}`);
      assert.equal(rec.http.statusCode, 200);
      assert.deepEqual(rec.http.response.header["X-H2"], ["yes"]);
      assert.equal(atob(rec.http.request.body), "d");
      assert.equal(atob(rec.http.response.body), "h2 /one d");
      assert.ok(rec.inputBytes > 0 && rec.outputBytes > 0);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "sniffed tunnel: concurrent HTTP/2 streams on one connection give one record each",
  async fn() {
    const { connect } = await import("node:http2");
    const origin = await startOrigin((req) => new Response(`stream ${new URL(req.url).pathname}`));
    const hook = await startWebhook();
    const snoop = await startSnoop(sniffingForwarder(origin.port, hook.url));
    const session = connect(`http://127.0.0.1:${snoop.port()}`);
    try {
      const get = (path: string) => h2Request(session, { ":path": path, "x-test": path });
      const bodies = await Promise.all(["/s1", "/s2", "/s3"].map(get));
      assert.deepEqual(bodies, ["stream /s1", "stream /s2", "stream /s3"]);
      const recs = (await hook.waitFor(3)) as Rec[];
      assert.deepEqual(recs.map((r) => r.http.uri).sort(), ["/s1", "/s2", "/s3"]);
      assert.equal(new Set(recs.map((r) => r.sid)).size, 1, "one connection");
      for (const r of recs) {
        assert.equal(r.http.proto, "HTTP/2.0");
        assert.deepEqual(r.http.request.header["X-Test"], [r.http.uri]);
        assert.equal(atob(r.http.response.body), `stream ${r.http.uri}`);
      }
    } finally {
      session.close();
      await new Promise((r) => session.once("close", r));
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "sniffing: WebSocket frames are recorded per direction, then the upgrade request",
  async fn() {
    const origin = await startOrigin((req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (e) => socket.send(`echo:${e.data}`);
      return response;
    });
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: ws
    addr: 127.0.0.1:0
    recorders: [{ name: hook, metadata: { http.body: true } }]
    handler: { type: tcp, metadata: { sniffing: true, sniffing.websocket: true, sniffing.websocket.sampleRate: -1 } }
    forwarder: { nodes: [{ name: o, addr: "127.0.0.1:${origin.port}" }] }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${snoop.port()}/chat`);
      const replies: string[] = [];
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => {
          ws.send("one");
          ws.send("two");
        };
        ws.onmessage = (e) => {
          replies.push(String(e.data));
          if (replies.length === 2) ws.close();
        };
        ws.onclose = () => resolve();
        ws.onerror = (e) => reject(e);
      });
      assert.deepEqual(replies, ["echo:one", "echo:two"]);
      // The upgrade request's record comes last, with status 101: wait for it.
      const last = await (async () => {
        for (let i = 0; i < 100; i++) {
          const up = hook.records.find((r) =>
            !(r as Rec).websocket && (r as Rec).http?.statusCode === 101
          );
          if (up) return up as Rec;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error("no upgrade record");
      })();
      assert.equal(last.http.uri, "/chat");
      assert.equal(hook.records.indexOf(last), hook.records.length - 1);
      const recs = hook.records as Rec[];
      const text = recs.filter((r) => r.websocket?.opcode === 1);
      // Two text frames each way; how they interleave depends on timing.
      assert.deepEqual(text.map((r) => r.websocket.from).sort(), [
        "client",
        "client",
        "server",
        "server",
      ]);
      assert.ok(recs.some((r) => r.websocket?.opcode === 8), "the close frame is recorded too");
      const clientOne = text.find((r) => r.websocket.from === "client")!;
      assert.equal(clientOne.websocket.masked, true);
      assert.equal(clientOne.websocket.length, 3);
      // Payload is recorded as sent (masked): unmask with the little-endian key to read it.
      const key = clientOne.websocket.maskKey;
      const masked = Uint8Array.from(atob(clientOne.websocket.payload), (c) => c.charCodeAt(0));
      const unmasked = String.fromCharCode(
        ...masked.map((b, i) => b ^ ((key >>> (8 * (i % 4))) & 0xff)),
      );
      assert.equal(unmasked, "one");
      const serverReply = text.find((r) => r.websocket.from === "server")!;
      assert.equal(serverReply.websocket.masked, false);
      assert.equal(atob(serverReply.websocket.payload), "echo:one");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "sniffing: a server-speaks-first protocol passes untouched after the sniff timeout",
  async fn() {
    // A tiny SMTP-like server: banner first, then echoes one line.
    const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const serving = (async () => {
      const c = await server.accept();
      await c.write(new TextEncoder().encode("220 banner ready\r\n"));
      const buf = new Uint8Array(100);
      const n = await c.read(buf);
      await c.write(buf.subarray(0, n!));
      c.close();
    })();
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: fwd
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: tcp, metadata: { sniffing: true, sniffing.timeout: 200ms } }
    forwarder: { nodes: [{ name: o, addr: "127.0.0.1:${(server.addr as Deno.NetAddr).port}" }] }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
      const buf = new Uint8Array(100);
      const n = await conn.read(buf);
      assert.equal(new TextDecoder().decode(buf.subarray(0, n!)), "220 banner ready\r\n");
      await conn.write(new TextEncoder().encode("EHLO x\r\n"));
      const m = await conn.read(buf);
      assert.equal(new TextDecoder().decode(buf.subarray(0, m!)), "EHLO x\r\n");
      conn.close();
      await serving;
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.proto, undefined);
      assert.equal(rec.inputBytes, 8);
      assert.equal(rec.outputBytes, 26);
    } finally {
      await snoop.stop(0);
      await hook.close();
      server.close();
    }
  },
});

Deno.test({
  name: "sniffing: readTimeout ends a tunnel whose upstream never answers, and the record says so",
  ignore: needs("curl"),
  async fn() {
    const silent = startSilentServer();
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: p
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http, metadata: { sniffing: true, readTimeout: 300ms } }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const r = await curl(
        "-p",
        "-x",
        `127.0.0.1:${snoop.port()}`,
        `http://127.0.0.1:${silent.port}/never`,
      );
      assert.equal(r.code, 52, "curl: empty reply from server");
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.http.uri, "/never");
      assert.equal(rec.http.statusCode, 0);
      assert.equal(rec.err, "http: timeout waiting for the response header");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await silent.close();
    }
  },
});
