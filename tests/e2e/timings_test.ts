import assert from "node:assert/strict";
import validate from "har-validator";
import { toHar } from "../../src/store/har.ts";
import {
  curl,
  needs,
  startOrigin,
  startSnoop,
  startWebhook,
  testCert,
  until,
} from "../helpers/harness.ts";
import { Browser } from "../helpers/cdp.ts";
import { opensslCa } from "../helpers/openssl_ca.ts";

// deno-lint-ignore no-explicit-any
type Rec = any;

const PHASES = ["dns", "connect", "tls", "ttfb", "transfer"];

/** Every phase present, a number, not negative; the wait not longer than the request. */
function assertTimings(r: Rec, phases = PHASES) {
  const t = r.timings;
  assert.ok(t && typeof t === "object", `timings in ${JSON.stringify(r).slice(0, 500)}`);
  for (const k of phases) {
    assert.equal(typeof t[k], "number", `${k} in ${JSON.stringify(t)}`);
    assert.ok(t[k] >= 0, `${k} in ${JSON.stringify(t)}`);
  }
  assert.ok(t.ttfb <= r.duration / 1e6, `ttfb ${t.ttfb} ms within ${r.duration / 1e6} ms`);
}

Deno.test({
  name: "timings: requests curl sends through the forward proxy carry them, and HAR has them",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin(async (req) => {
      if (new URL(req.url).pathname === "/slow") await new Promise((r) => setTimeout(r, 50));
      return new Response("x".repeat(100_000), { headers: { "content-type": "text/plain" } });
    });
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      // Two requests on one client connection: the second reuses the upstream connection.
      const got = await curl(
        "-sS",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-x",
        `127.0.0.1:${snoop.port()}`,
        `${origin.url}/slow`,
        `${origin.url}/again`,
      );
      assert.equal(got.code, 0, got.stderr);
      const records = (await hook.waitFor(2)) as Rec[];
      const slow = records.find((r) => r.http?.uri.endsWith("/slow"));
      const again = records.find((r) => r.http?.uri.endsWith("/again"));
      assert.ok(slow && again, JSON.stringify(records).slice(0, 1000));
      assertTimings(slow);
      assertTimings(again);
      assert.equal(slow.timings.tlsClient, undefined, "no client handshake without MITM");
      // The pooled connection was dialed once: the second request spent nothing on it.
      assert.equal(again.timings.dns, 0);
      assert.equal(again.timings.connect, 0);

      const har = toHar(records);
      await validate.har(har);
      const entry = har.log.entries.find((e) => e.request.url.endsWith("/slow"))!;
      assert.equal(entry.timings.wait, slow.timings.ttfb);
      assert.equal(entry.timings.receive, slow.timings.transfer);
      assert.equal(entry.timings.connect, slow.timings.connect + slow.timings.tls);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "timings: a request intercepted by MITM has both handshakes, the dial and its wait",
  ignore: needs("curl", "openssl"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "snoop-timings-mitm-" });
    const cert = await testCert();
    const origin = await startOrigin(() => new Response("mitm ok"), cert);
    const hook = await startWebhook();
    try {
      const { cert: ca, key } = await opensslCa({ dir, name: "timings test CA" });
      const snoop = await startSnoop(`
services:
  - name: mitm
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: http
      metadata: { sniffing: true, mitm.certFile: ${ca}, mitm.keyFile: ${key}, mitm.upstreamCA: ${cert.certFile} }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
      try {
        const r = await curl(
          "--cacert",
          ca,
          "-x",
          `127.0.0.1:${snoop.port()}`,
          `https://localhost:${origin.port}/x`,
          `https://localhost:${origin.port}/y`,
        );
        assert.equal(r.stdout, "mitm okmitm ok", r.stderr);
        const recs = (await hook.waitFor(2)) as Rec[];
        const rec = recs.find((x) => x.http?.uri === "/x");
        const next = recs.find((x) => x.http?.uri === "/y");
        assert.ok(rec && next, JSON.stringify(recs).slice(0, 2000));
        assertTimings(rec, [...PHASES, "tlsClient"]);
        assertTimings(next, [...PHASES, "tlsClient"]);
        // Both handshakes happened on this connection, for its first request; the second
        // request reused it.
        assert.ok(rec.timings.tls > 0 && rec.timings.tlsClient > 0, JSON.stringify(rec.timings));
        assert.deepEqual(
          [next.timings.dns, next.timings.connect, next.timings.tls, next.timings.tlsClient],
          [0, 0, 0, 0],
        );
        await validate.har(toHar([rec, next]));
      } finally {
        await snoop.stop(0);
      }
    } finally {
      await hook.close();
      await origin.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "timings: the detail view in Chromium shows a record's phases as a waterfall",
  ignore: needs("curl", "chromium"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-waterfall-" });
    const origin = await startOrigin(() => new Response("ok"));
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: store }]
    handler: { type: http }
recorders:
  - name: store
    store: { path: "${home}/records.db" }
ui: { addr: "127.0.0.1:0", store: store }
`);
    let ui: Browser | undefined;
    try {
      const got = await curl("-sS", "-x", `127.0.0.1:${snoop.port("proxy")}`, `${origin.url}/w`);
      assert.equal(got.code, 0, got.stderr);
      const api = async (path: string) =>
        await (await fetch(`http://127.0.0.1:${snoop.uiAddr!.port}${path}`, {
          headers: { authorization: `Bearer ${snoop.uiToken}` },
        })).json();
      let id = 0;
      await until(async () => {
        id = (await api("/api/records")).records[0]?.id ?? 0;
        return id > 0;
      }, "the record");
      ui = await Browser.launch(home, snoop.uiUrl!);
      await ui.waitFor(`document.querySelector('#records tbody tr[data-id="${id}"]')`, "the row");
      await ui.eval(`document.querySelector('#records tbody tr[data-id="${id}"]').click()`);
      await ui.waitFor(`document.querySelector("#waterfall li")`, "the waterfall");
      const phases = await ui.eval<string[]>(
        `[...document.querySelectorAll("#waterfall li")].map((li) => li.dataset.phase)`,
      );
      assert.deepEqual(phases, ["dns", "connect", "tls", "ttfb", "transfer"]);
      // The bars have no content: a width comes only from the CSSOM style the CSP allows.
      const width = await ui.eval<number>(
        `[...document.querySelectorAll("#waterfall .bar")].reduce((w, b) => w + b.offsetWidth, 0)`,
      );
      assert.ok(width > 0, `bars ${width}px wide`);
    } finally {
      await ui?.close();
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});
