import assert from "node:assert/strict";
import {
  curl,
  decode,
  encode,
  needs,
  readAll,
  startOrigin,
  startSnoop,
  startWebhook,
  testCert,
} from "../helpers/harness.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

const proxyYaml = (webhook: string, extra = "") => `
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders:
      - name: hook
        record: recorder.service.handler
        metadata: { http.body: true }
    handler:
      type: http
      ${extra}
recorders:
  - name: hook
    http: { url: "${webhook}", timeout: 2s }
`;

Deno.test({
  name: "http proxy forwards GET and POST with bodies and records each request",
  ignore: needs("curl"),
  async fn() {
    await using origin = await startOrigin();
    await using hook = await startWebhook();
    await using snoop = await startSnoop(proxyYaml(hook.url));
    const proxy = `127.0.0.1:${snoop.port()}`;
    const get = await curl("-x", proxy, `${origin.url}/get`);
    assert.equal(get.stdout, "hello GET /get ");
    const post = await curl("-x", proxy, "--data-binary", "payload-123", `${origin.url}/post`);
    assert.equal(post.stdout, "hello POST /post payload-123");
    const [r1, r2] = await hook.waitFor(2);
    const http1 = r1.http as Rec;
    assert.equal(r1.service, "proxy");
    assert.equal(r1.host, `127.0.0.1:${origin.port}`);
    assert.equal(r1.proto, "http");
    assert.equal(http1.method, "GET");
    assert.equal(http1.scheme, "http");
    assert.equal(http1.uri, `${origin.url}/get`);
    assert.equal(http1.statusCode, 200);
    assert.equal(http1.response.header["X-Origin"][0], "test");
    const http2 = r2.http as Rec;
    assert.equal(http2.method, "POST");
    assert.equal(http2.request.contentLength, 11);
    assert.equal(atob(http2.request.body), "payload-123");
    assert.equal(atob(http2.response.body), "hello POST /post payload-123");
    // The origin saw an origin-form request without proxy headers.
    assert.equal(origin.requests[1].headers.get("proxy-connection"), null);
  },
});

Deno.test({
  name: "http proxy keeps three requests on one keep-alive connection and reuses the upstream",
  ignore: needs("curl"),
  async fn() {
    await using origin = await startOrigin();
    await using hook = await startWebhook();
    await using snoop = await startSnoop(proxyYaml(hook.url));
    const r = await curl(
      "-x",
      `127.0.0.1:${snoop.port()}`,
      `${origin.url}/1`,
      `${origin.url}/2`,
      `${origin.url}/3`,
    );
    assert.equal(r.stdout, "hello GET /1 hello GET /2 hello GET /3 ");
    const recs = await hook.waitFor(3);
    assert.deepEqual(recs.map((x) => (x.http as Rec).uri), [
      `${origin.url}/1`,
      `${origin.url}/2`,
      `${origin.url}/3`,
    ]);
    // One client connection (same remote) and one upstream connection (same src).
    assert.equal(new Set(recs.map((x) => x.remote)).size, 1);
    assert.equal(new Set(recs.map((x) => x.src)).size, 1);
    assert.equal(new Set(recs.map((x) => x.sid)).size, 1);
  },
});

Deno.test({
  name: "http proxy routes requests on one connection to different hosts",
  async fn() {
    const a = await startOrigin(() => new Response("from-a"));
    const b = await startOrigin(() => new Response("from-b"));
    const snoop = await startSnoop(
      `services: [{ name: p, addr: "127.0.0.1:0", handler: { type: http } }]`,
    );
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
    try {
      await conn.write(encode(
        `GET ${a.url}/x HTTP/1.1\r\nHost: 127.0.0.1:${a.port}\r\n\r\n` +
          `GET ${b.url}/y HTTP/1.1\r\nHost: 127.0.0.1:${b.port}\r\nConnection: close\r\n\r\n`,
      ));
      const text = decode(await readAll(conn));
      assert.match(text, /from-a[\s\S]*from-b/);
      assert.equal(text.match(/HTTP\/1\.1 200/g)?.length, 2);
    } finally {
      conn.close();
      await snoop.stop(0);
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "http proxy frames chunked, HEAD, 204 and 304 responses and passes 100-continue",
  ignore: needs("curl"),
  async fn() {
    await using origin = await startOrigin((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/chunked") {
        const body = new ReadableStream({
          start(c) {
            c.enqueue(encode("part1-"));
            c.enqueue(encode("part2"));
            c.close();
          },
        });
        return new Response(body);
      }
      if (path === "/204") return new Response(null, { status: 204 });
      if (path === "/304") return new Response(null, { status: 304 });
      return new Response("head-body");
    });
    await using snoop = await startSnoop(
      `services: [{ name: p, addr: "127.0.0.1:0", handler: { type: http } }]`,
    );
    const proxy = `127.0.0.1:${snoop.port()}`;
    assert.equal((await curl("-x", proxy, `${origin.url}/chunked`)).stdout, "part1-part2");
    const head = await curl("-x", proxy, "-I", `${origin.url}/head`);
    assert.match(head.stdout, /^HTTP\/1\.1 200/);
    assert.match(head.stdout, /content-length: 9/i);
    const codes = await curl(
      "-x",
      proxy,
      "-w",
      "%{http_code} ",
      "-o",
      "/dev/null",
      `${origin.url}/204`,
      "-o",
      "/dev/null",
      `${origin.url}/304`,
      "-o",
      "/dev/null",
      `${origin.url}/after`,
    );
    assert.equal(codes.stdout, "204 304 200 ");
    const big = "x".repeat(2048);
    const cont = await curl(
      "-x",
      proxy,
      "-H",
      "Expect: 100-continue",
      "--data-binary",
      big,
      `${origin.url}/continue`,
    );
    assert.equal(cont.stdout, `head-body`);
    assert.equal(origin.requests.at(-1)!.body, big);
  },
});

Deno.test({
  name: "http proxy CONNECT tunnels to a local TLS origin",
  ignore: needs("curl", "openssl"),
  async fn() {
    const cert = await testCert();
    await using origin = await startOrigin(() => new Response("secure"), cert);
    await using hook = await startWebhook();
    await using snoop = await startSnoop(proxyYaml(hook.url));
    const r = await curl(
      "--cacert",
      cert.certFile,
      "-x",
      `127.0.0.1:${snoop.port()}`,
      `https://localhost:${origin.port}/`,
      "--resolve",
      `localhost:${origin.port}:127.0.0.1`,
    );
    assert.equal(r.stdout, "secure", r.stderr);
    const [rec] = await hook.waitFor(1);
    const http = rec.http as Rec;
    assert.equal(http.method, "CONNECT");
    assert.equal(http.statusCode, 200);
    assert.equal(http.uri, `localhost:${origin.port}`);
    assert.equal(rec.host, `localhost:${origin.port}`);
    assert.ok((rec.inputBytes as number) > 300 && (rec.outputBytes as number) > 300);
    assert.equal(rec.err, undefined);
  },
});

Deno.test({
  name: "http proxy CONNECT reply carries no body headers",
  async fn() {
    const origin = await startOrigin();
    const snoop = await startSnoop(
      `services: [{ name: p, addr: "127.0.0.1:0", handler: { type: http } }]`,
    );
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
    try {
      await conn.write(encode(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`));
      const buf = new Uint8Array(1024);
      const n = await conn.read(buf);
      const head = decode(buf.subarray(0, n!));
      assert.match(head, /^HTTP\/1\.1 200 Connection established\r\n/);
      assert.doesNotMatch(head, /content-length|transfer-encoding/i);
    } finally {
      conn.close();
      await snoop.stop(0);
      await origin.close();
    }
  },
});

Deno.test({
  name: "http proxy answers 400 to a malformed request line and records the error",
  async fn() {
    const hook = await startWebhook();
    const snoop = await startSnoop(proxyYaml(hook.url));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
    try {
      await conn.write(encode("THIS IS NOT HTTP\r\n\r\n"));
      const text = decode(await readAll(conn));
      assert.match(text, /^HTTP\/1\.1 400 Bad Request/);
      const [rec] = await hook.waitFor(1);
      assert.match(String(rec.err), /malformed request line/);
    } finally {
      conn.close();
      await snoop.stop(0);
      await hook.close();
    }
  },
});

Deno.test({
  name: "http proxy answers 502 when the upstream refuses and 400 to origin-form requests",
  ignore: needs("curl"),
  async fn() {
    await using hook = await startWebhook();
    await using snoop = await startSnoop(proxyYaml(hook.url));
    // A port with nothing listening: bind one, close it, use its number.
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = (l.addr as Deno.NetAddr).port;
    l.close();
    const r = await curl(
      "-x",
      `127.0.0.1:${snoop.port()}`,
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `http://127.0.0.1:${deadPort}/`,
    );
    assert.equal(r.stdout, "502");
    const direct = await curl(
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `http://127.0.0.1:${snoop.port()}/not-a-proxy-request`,
    );
    assert.equal(direct.stdout, "400");
    const recs = await hook.waitFor(2);
    assert.match(String(recs[0].err), /dial .*refused/i);
    assert.equal((recs[0].http as Rec).statusCode, 502);
  },
});

Deno.test("http proxy forwards header bytes 0x80–0xFF as they came, both ways", async () => {
  // 0x80–0x9F too: WHATWG's "latin1" decoder is windows-1252, which reads 0x80 as U+20AC and
  // 0x93 as U+201C; written back one byte per char, those left as 0xAC and 0x1C.
  const cafe = (prefix: string) =>
    new Uint8Array([...encode(prefix + "caf"), 0xe9, 0x20, 0x80, 0x93, 0x9f, 0xa0, 0xff]);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const originPort = (listener.addr as Deno.NetAddr).port;
  let seenByOrigin = new Uint8Array();
  const serving = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(4096);
    const n = (await conn.read(buf))!;
    seenByOrigin = buf.slice(0, n);
    await conn.write(
      new Uint8Array([
        ...encode("HTTP/1.1 200 OK\r\n"),
        ...cafe("X-Name: "),
        ...encode("\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"),
      ]),
    );
    conn.close();
  })();
  const snoop = await startSnoop(
    `services: [{ name: p, addr: "127.0.0.1:0", handler: { type: http } }]`,
  );
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
    await conn.write(
      new Uint8Array([
        ...encode(`GET http://127.0.0.1:${originPort}/ HTTP/1.1\r\n`),
        ...encode(`Host: 127.0.0.1:${originPort}\r\n`),
        ...cafe("X-Req: "),
        ...encode("\r\nConnection: close\r\n\r\n"),
      ]),
    );
    const answer = await readAll(conn);
    conn.close();
    await serving;
    const hasBytes = (hay: Uint8Array, needle: Uint8Array) =>
      hay.some((_, i) => needle.every((b, j) => hay[i + j] === b));
    assert.ok(hasBytes(seenByOrigin, cafe("X-Req: ")), decode(seenByOrigin));
    assert.ok(hasBytes(answer, cafe("X-Name: ")), decode(answer));
    assert.match(decode(answer), /\r\n\r\nok$/);
  } finally {
    await snoop.stop(0);
    listener.close();
  }
});

Deno.test("http proxy forwards the path and query as sent; a control character in the target is a 400 with a record", async () => {
  // RFC 9110 §7.7: a proxy MUST NOT modify the path and query (WHATWG URL would resolve
  // "/a/../b" to "/b" and escape '"', '{' and a Latin-1 byte).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const originPort = (listener.addr as Deno.NetAddr).port;
  const requestLines: Uint8Array[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(4096);
      const n = (await conn.read(buf)) ?? 0;
      requestLines.push(buf.slice(0, buf.subarray(0, n).indexOf(0x0d)));
      await conn.write(encode("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"));
      conn.close();
    }
  })().catch(() => {});
  const hook = await startWebhook();
  const snoop = await startSnoop(proxyYaml(hook.url));
  const send = async (target: Uint8Array) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
    await conn.write(
      new Uint8Array([
        ...encode("GET "),
        ...target,
        ...encode(` HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nConnection: close\r\n\r\n`),
      ]),
    );
    const answer = decode(await readAll(conn));
    conn.close();
    return answer.slice(0, answer.indexOf("\r\n"));
  };
  try {
    const base = `http://127.0.0.1:${originPort}`;
    const paths: [Uint8Array, Uint8Array][] = [
      [encode(`${base}/a/../b/./c?x="y"&z={1}`), encode(`/a/../b/./c?x="y"&z={1}`)],
      [encode(`${base}/%7e/%7E//d;p`), encode("/%7e/%7E//d;p")],
      [new Uint8Array([...encode(`${base}/caf`), 0xe9]), new Uint8Array([...encode("/caf"), 0xe9])],
      [encode(`${base}?q=1`), encode("/?q=1")],
      [encode(`${base}/frag#x`), encode("/frag")],
    ];
    for (const [target] of paths) assert.equal(await send(target), "HTTP/1.1 204 No Content");
    assert.deepEqual(
      requestLines.map(decode),
      paths.map(([, path]) =>
        decode(new Uint8Array([...encode("GET "), ...path, ...encode(" HTTP/1.1")]))
      ),
    );
    assert.equal(await send(encode(`${base}/a\tb`)), "HTTP/1.1 400 Bad Request");
    assert.equal(requestLines.length, paths.length, "the bad target reached the origin");
    const records = await hook.waitFor(paths.length + 1);
    const bad = records.find((r) => (r.http as Rec).statusCode === 400)!;
    assert.match(String(bad.err), /malformed request target/);
  } finally {
    await snoop.stop(0);
    await hook.close();
    listener.close();
    await serving;
  }
});
