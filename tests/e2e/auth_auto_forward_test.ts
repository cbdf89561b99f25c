import assert from "node:assert/strict";
import {
  curl,
  decode,
  needs,
  readAll,
  startOrigin,
  startSnoop,
  startWebhook,
} from "../helpers/harness.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

Deno.test({
  name:
    "http proxy auth: 407 with Proxy-Authenticate without credentials, pass with them, never forwarded",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin();
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: p
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http, auth: { username: bob, password: "pa:ss" } }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const proxy = `127.0.0.1:${snoop.port()}`;
      const none = await curl("-x", proxy, "-i", `${origin.url}/`);
      assert.match(none.stdout, /^HTTP\/1\.1 407/);
      assert.match(none.stdout, /Proxy-Authenticate: Basic realm="snoop"/);
      const wrong = await curl(
        "-x",
        proxy,
        "-U",
        "bob:nope",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `${origin.url}/`,
      );
      assert.equal(wrong.stdout, "407");
      const ok = await curl("-x", proxy, "-U", "bob:pa:ss", `${origin.url}/ok`);
      assert.equal(ok.stdout, "hello GET /ok ");
      assert.equal(origin.requests.length, 1);
      assert.equal(origin.requests[0].headers.get("proxy-authorization"), null);
      // CONNECT is checked too.
      const tunnel = await curl(
        "-p",
        "-x",
        proxy,
        "-o",
        "/dev/null",
        "-w",
        "%{http_connect}",
        `${origin.url}/t`,
      );
      assert.equal(tunnel.stdout, "407");
      const recs = await hook.waitFor(4);
      const okRec = recs.find((r) => (r.http as Rec).statusCode === 200)!;
      assert.equal(okRec.clientID, "bob");
      assert.equal(recs.filter((r) => (r.http as Rec).statusCode === 407).length, 3);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "auto handler serves http, socks4 and socks5 on one port",
  ignore: needs("curl"),
  async fn() {
    await using origin = await startOrigin();
    await using snoop = await startSnoop(
      `services: [{ name: a, addr: "127.0.0.1:0", handler: { type: auto } }]`,
    );
    const p = `127.0.0.1:${snoop.port()}`;
    assert.equal((await curl("-x", p, `${origin.url}/h`)).stdout, "hello GET /h ");
    assert.equal((await curl("-p", "-x", p, `${origin.url}/c`)).stdout, "hello GET /c ");
    assert.equal((await curl("--socks5", p, `${origin.url}/s5`)).stdout, "hello GET /s5 ");
    assert.equal((await curl("--socks4", p, `${origin.url}/s4`)).stdout, "hello GET /s4 ");
  },
});

Deno.test({
  name: "auto handler with auth asks every protocol for credentials",
  ignore: needs("curl"),
  async fn() {
    await using origin = await startOrigin();
    await using snoop = await startSnoop(
      `services: [{ name: a, addr: "127.0.0.1:0", handler: { type: auto, auth: { username: u, password: p } } }]`,
    );
    const p = `127.0.0.1:${snoop.port()}`;
    assert.equal(
      (await curl("-x", p, "-o", "/dev/null", "-w", "%{http_code}", `${origin.url}/`)).stdout,
      "407",
    );
    assert.notEqual((await curl("--socks5", p, `${origin.url}/`)).code, 0);
    assert.equal((await curl("--socks5", `u:p@${p}`, `${origin.url}/x`)).stdout, "hello GET /x ");
    assert.equal(
      (await curl("-x", `http://u:p@${p}`, `${origin.url}/y`)).stdout,
      "hello GET /y ",
    );
  },
});

Deno.test({
  name: "tcp forwarding sends every connection to the target and records it",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin();
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: fwd
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: tcp }
    forwarder: { nodes: [{ name: t, addr: "127.0.0.1:${origin.port}" }] }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const r = await curl(`http://127.0.0.1:${snoop.port()}/forwarded`);
      assert.equal(r.stdout, "hello GET /forwarded ");
      const [rec] = await hook.waitFor(1);
      assert.equal(rec.host, `127.0.0.1:${origin.port}`);
      assert.equal(rec.dst, `127.0.0.1:${origin.port}`);
      assert.ok((rec.inputBytes as number) > 50);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "service bypass: 403 for http, 0x02 for socks5, closed for tcp forwarding",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin();
    const snoop = await startSnoop(`
services:
  - name: h
    addr: 127.0.0.1:0
    bypass: deny-local
    handler: { type: http }
  - name: s
    addr: 127.0.0.1:0
    bypass: only-example
    handler: { type: socks5 }
bypasses:
  - name: deny-local
    matchers: [127.0.0.0/8]
  - name: only-example
    whitelist: true
    matchers: [.example.com]
`);
    try {
      const h = await curl(
        "-x",
        `127.0.0.1:${snoop.port("h")}`,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `${origin.url}/`,
      );
      assert.equal(h.stdout, "403");
      const c = await curl(
        "-p",
        "-x",
        `127.0.0.1:${snoop.port("h")}`,
        "-o",
        "/dev/null",
        "-w",
        "%{http_connect}",
        `${origin.url}/`,
      );
      assert.equal(c.stdout, "403");
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port("s") });
      await conn.write(
        Uint8Array.of(5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, origin.port >> 8, origin.port & 0xff),
      );
      const reply = await readAll(conn);
      conn.close();
      assert.equal(reply[3], 0x02, decode(reply));
      assert.equal(origin.requests.length, 0);
    } finally {
      await snoop.stop(0);
      await origin.close();
    }
  },
});

Deno.test({
  name:
    "records keep no secrets by default: Proxy-Authorization, Cookie, Set-Cookie and token parameters; redact: false keeps them",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin(() =>
      new Response("ok", { headers: { "Set-Cookie": "sid=abc123" } })
    );
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: safe
    addr: 127.0.0.1:0
    recorders: [{ name: hook, metadata: { redact.headers: [X-Secret] } }]
    handler: { type: http, auth: { username: u, password: p } }
  - name: raw
    addr: 127.0.0.1:0
    recorders: [{ name: hook, metadata: { redact: false } }]
    handler: { type: http }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      await curl(
        "-x",
        `http://u:p@127.0.0.1:${snoop.port("safe")}`,
        "-H",
        "Cookie: session=xyz",
        "-H",
        "X-Secret: 42",
        `${origin.url}/a?access_token=tok&page=2`,
      );
      await curl(
        "-x",
        `127.0.0.1:${snoop.port("raw")}`,
        "-H",
        "Cookie: session=xyz",
        `${origin.url}/b?access_token=tok`,
      );
      const recs = (await hook.waitFor(2)) as Rec[];
      const safe = recs.find((r) => r.service === "safe")!;
      assert.deepEqual(safe.http.request.header["Proxy-Authorization"], ["REDACTED"]);
      assert.deepEqual(safe.http.request.header["Cookie"], ["REDACTED"]);
      assert.deepEqual(safe.http.request.header["X-Secret"], ["REDACTED"]);
      assert.deepEqual(safe.http.response.header["Set-Cookie"], ["REDACTED"]);
      assert.equal(safe.http.uri, `${origin.url}/a?access_token=REDACTED&page=2`);
      assert.equal(safe.clientID, "u");
      const raw = recs.find((r) => r.service === "raw")!;
      assert.deepEqual(raw.http.request.header["Cookie"], ["session=xyz"]);
      assert.equal(raw.http.uri, `${origin.url}/b?access_token=tok`);
      // The origin still got what the client sent.
      assert.equal(origin.requests[0].headers.get("cookie"), "session=xyz");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});
