import assert from "node:assert/strict";
import {
  curl,
  decode,
  encode,
  needs,
  readAll,
  run,
  startOrigin,
  startSilentServer,
  startSnoop,
  startWebhook,
  testCert,
  until,
} from "../helpers/harness.ts";
import { startAlpnOrigin } from "../helpers/tls_origins.ts";
import { blackhole } from "../helpers/blackhole.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

/**
 * Every deadline and malformed-input path answers or closes, leaves a record with `err`,
 * and counts in snoop_limit_hits_total{limit}: the dial, upstream-response, SOCKS handshake,
 * DNS upstream and TLS handshake deadlines; a malformed request body; a malformed response.
 */

/**
 * An origin that sends a valid head and then a malformed chunked body, the bad chunk a
 * moment later: by then the head has gone to the client (a failure before any byte of the
 * response went out is a clean 502 instead).
 */
function brokenChunkedOrigin(): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        await conn.read(new Uint8Array(4096));
        await conn.write(
          encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
        );
        await new Promise((r) => setTimeout(r, 200));
        await conn.write(encode("zz\r\n"));
        await new Promise((r) => setTimeout(r, 2000));
        conn.close();
      })().catch(() => {});
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

const hex = (h: string) => Uint8Array.from(h.trim().match(/../g)!.map((b) => parseInt(b, 16)));

Deno.test({
  name:
    "limits: deadlines and malformed messages answer or close, are recorded with err and counted",
  ignore: needs("curl", "dig", "openssl"),
  sanitizeResources: false, // the blackhole's half-open connects are the kernel's, not ours
  async fn() {
    const hook = await startWebhook();
    const origin = await startOrigin();
    const silent = startSilentServer();
    const broken = brokenChunkedOrigin();
    const hole = await blackhole();
    const { default: dgram } = await import("node:dgram");
    const silentDns = dgram.createSocket("udp4");
    await new Promise<void>((r) => silentDns.bind(0, "127.0.0.1", () => r()));
    const caDir = await Deno.makeTempDir({ prefix: "snoop-limits-ca-" });
    const ca = { cert: `${caDir}/ca.crt`, key: `${caDir}/ca.key` };
    const made = await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=limits test CA",
      "-keyout",
      ca.key,
      "-out",
      ca.cert,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const tlsOrigin = await startAlpnOrigin(["http/1.1"], await testCert());
    const snoop = await startSnoop(`
services:
  - name: p
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http, metadata: { dialTimeout: 300ms, readTimeout: 500ms } }
  - name: s
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: socks5, metadata: { handshakeTimeout: 300ms } }
  - name: d
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: dns, metadata: { dns: "udp://127.0.0.1:${silentDns.address().port}", timeout: 300ms } }
    listener: { type: udp }
  - name: m
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: http
      metadata:
        sniffing: true
        mitm.certFile: ${ca.cert}
        mitm.keyFile: ${ca.key}
        mitm.insecure: true
        mitm.handshakeTimeout: 300ms
recorders:
  - { name: hook, http: { url: "${hook.url}" } }
  - { name: store, store: { path: ":memory:" } }
ui: { addr: "127.0.0.1:0", store: store }
`);
    const metrics = async () =>
      (await curl(
        "-s",
        "-H",
        `Authorization: Bearer ${snoop.uiToken}`,
        `http://127.0.0.1:${snoop.uiAddr!.port}/metrics`,
      )).stdout;
    const hits = async (service: string, limit: string) => {
      const m = new RegExp(
        `snoop_limit_hits_total\\{service="${service}",limit="${limit}"\\} (\\d+)`,
      )
        .exec(await metrics());
      return m ? Number(m[1]) : 0;
    };
    const proxy = `127.0.0.1:${snoop.port("p")}`;
    const status = async (...args: string[]) =>
      (await curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy, ...args)).stdout;
    try {
      // Dial deadline: 504, counted.
      assert.equal(await status(`http://127.0.0.1:${hole.port}/`), "504");
      assert.equal(await hits("p", "dial-timeout"), 1);

      // Upstream response deadline: 504, counted.
      assert.equal(await status(`http://127.0.0.1:${silent.port}/`), "504");
      assert.equal(await hits("p", "upstream-timeout"), 1);

      // A malformed chunked request body: 400 at once (not a 504 later), counted.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port("p") });
      await conn.write(encode(
        `POST http://127.0.0.1:${silent.port}/up HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
          "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nnot-hex\r\n",
      ));
      const answer = decode(await readAll(conn));
      conn.close();
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.equal(await hits("p", "http-malformed"), 1);

      // A malformed chunked response body: the client is cut off after what was relayed.
      const cut = await curl("-s", "-x", proxy, `http://127.0.0.1:${broken.port}/`);
      assert.notEqual(cut.code, 0, "curl sees a broken transfer");
      assert.equal(await hits("p", "upstream-malformed"), 1);

      // SOCKS5 greeting never finished: closed at the deadline, counted.
      const socks = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port("s") });
      await socks.write(Uint8Array.of(5, 2)); // promises two methods, sends none
      assert.equal((await readAll(socks)).length, 0, "closed without a reply");
      socks.close();
      assert.equal(await hits("s", "handshake-timeout"), 1);

      // DNS upstream that never answers: SERVFAIL, counted.
      const dig = await run("dig", [
        "@127.0.0.1",
        "-p",
        String(snoop.port("d")),
        "slow.test",
        "+tries=1",
        "+time=5",
      ]);
      assert.match(dig.stdout, /status: SERVFAIL/);
      assert.equal(await hits("d", "dns-timeout"), 1);

      // MITM: the client sends its ClientHello and stalls: closed at the deadline, counted.
      const tunnel = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port("m") });
      await tunnel.write(
        encode(`CONNECT 127.0.0.1:${tlsOrigin.port} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`),
      );
      const established = new Uint8Array(1024);
      const n = await tunnel.read(established);
      assert.match(decode(established.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
      await tunnel.write(hex(await Deno.readTextFile("tests/fixtures/seed_client_hello.hex")));
      await readAll(tunnel); // the forged ServerHello flight, then the close
      tunnel.close();
      await until(async () => (await hits("m", "tls-handshake-timeout")) === 1, "tls count");

      const recs = (await hook.waitFor(7)) as Rec[];
      const errs = recs.map((r) => `${r.service}: ${r.err ?? ""}`).sort();
      for (
        const expected of [
          /^d: udp:\/\/127\.0\.0\.1:\d+: timeout$/,
          /^m: client handshake timed out$/,
          /^p: bad request body: malformed chunk size$/,
          /^p: dial 127\.0\.0\.1:\d+: timeout$/,
          /^p: timeout waiting for the upstream response$/,
          /^p: upstream response broken: malformed chunk size$/,
          /^s: socks5: timeout while reading SOCKS5 handshake$/,
        ]
      ) assert.ok(errs.some((e) => expected.test(e)), `${expected} in ${errs.join(" | ")}`);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
      await silent.close();
      await broken.close();
      await tlsOrigin.close();
      hole.close();
      silentDns.close();
      await Deno.remove(caDir, { recursive: true });
    }
  },
});
