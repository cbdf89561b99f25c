import assert from "node:assert/strict";
import { curl, needs, startSnoop, testCert } from "../helpers/harness.ts";

/**
 * A sniffed (not intercepted) TLS tunnel that curl ends cleanly: curl sends its close_notify
 * and closes at once; the origin answers with its own close_notify, which reaches a socket
 * curl has closed, and curl's kernel resets the connection. The reset can overtake the FIN
 * snoop has not read yet, so the tunnel's read from the client fails with ECONNRESET. Only
 * the origin's closure alert was lost: the record must not say the client went away with
 * data in flight. (What does count as in flight, application data, is told apart from a
 * closure alert by `onlyTlsClosure`, tested below.)
 */

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test({
  name:
    "sniffed TLS tunnel: curl's clean close (the origin's close_notify answered by a reset) is no error",
  ignore: needs("curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-close-notify-" });
    const cert = await testCert();
    // rustls (Deno's TLS) answers a TLS 1.2 close_notify with its own.
    const origin = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: cert.cert, key: cert.key, onListen() {} },
      () => new Response("x".repeat(2000)),
    );
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: store }]
    handler: { type: http, metadata: { sniffing: true } }
recorders:
  - name: store
    store: { path: "${home}/r.db" }
ui: { addr: "127.0.0.1:0", store: store, token: "off" }
`);
    const proxy = `127.0.0.1:${snoop.port()}`;
    const url = `https://localhost:${origin.addr.port}`;
    const records = async (n: number): Promise<Json[]> => {
      for (let i = 0; i < 100; i++) {
        const r =
          await (await fetch(`http://127.0.0.1:${snoop.uiAddr!.port}/api/records?limit=100`))
            .json();
        if (r.records.length >= n) return r.records;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error("records missing");
    };
    try {
      const N = 8;
      for (let i = 0; i < N; i++) {
        const r = await curl(
          "-k",
          "--http1.1",
          "--tls-max",
          "1.2",
          "-x",
          proxy,
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          `${url}/ok`,
        );
        assert.equal(r.stdout, "200");
      }
      const clean = await records(N);
      assert.deepEqual(
        clean.map((r) => [r.kind, r.status, r.err]),
        Array(N).fill(["tls", 200, ""]),
        "a clean close recorded as an error",
      );
    } finally {
      await snoop.stop(0);
      await origin.shutdown();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test("onlyTlsClosure: closure alerts of TLS 1.2 and 1.3, nothing else", async () => {
  const { onlyTlsClosure } = await import("../../src/handler/tunnel.ts");
  const rec = (
    type: number,
    len: number,
  ) => [type, 3, 3, len >> 8, len & 0xff, ...Array(len).fill(7)];
  const u = (...b: number[][]) => new Uint8Array(b.flat());
  assert.ok(onlyTlsClosure(u(rec(21, 26))), "TLS 1.2 AES-GCM encrypted alert");
  assert.ok(onlyTlsClosure(u(rec(21, 2))), "a plaintext alert");
  assert.ok(onlyTlsClosure(u(rec(23, 19))), "TLS 1.3 encrypted alert");
  assert.ok(onlyTlsClosure(u(rec(21, 26), rec(21, 26))));
  assert.ok(!onlyTlsClosure(u(rec(23, 100))), "application data");
  assert.ok(!onlyTlsClosure(u(rec(23, 20))), "not an alert's size");
  assert.ok(!onlyTlsClosure(u(rec(21, 26)).subarray(0, 20)), "a cut record");
  assert.ok(!onlyTlsClosure(u(rec(21, 26), [23])), "trailing bytes");
  assert.ok(!onlyTlsClosure(new Uint8Array(0)), "nothing was on its way");
  assert.ok(!onlyTlsClosure(null), "more than the tail holds");
});
