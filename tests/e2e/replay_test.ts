import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { curl, needs, startSnoop, testCert, until } from "../helpers/harness.ts";
import { opensslCa } from "../helpers/openssl_ca.ts";

/**
 * Replay and edit-and-resend through snoop's own proxy path: plain HTTP/1.1, intercepted
 * TLS with HTTP/1.1 and with HTTP/2, each against a real origin that must receive the edited
 * request; the new record links back with `replayOf`; redacted values are refused unless
 * the edits supply them; the link cannot be forged by a client; the POST is same-origin only.
 */

// deno-lint-ignore no-explicit-any
type Json = any;

interface Seen {
  method: string;
  path: string;
  version: string;
  headers: Record<string, string | string[]>;
  body: string;
}

/** A TLS origin (HTTP/2 and HTTP/1.1) and a plain one, both telling what they received. */
async function startEchoOrigins(cert: { cert: string; key: string }) {
  const seen: Seen[] = [];
  const handler = (req: Json, res: Json) => {
    let body = "";
    req.on("data", (c: Uint8Array) => body += new TextDecoder().decode(c));
    req.on("end", () => {
      seen.push({
        method: req.method,
        path: req.url,
        version: req.httpVersion,
        headers: req.headers,
        body,
      });
      res.setHeader("content-type", "text/plain");
      res.setHeader("x-origin", "echo");
      res.end(`${req.httpVersion} ${req.method} ${req.url} ${body}`);
    });
  };
  const tls = http2.createSecureServer({ ...cert, allowHTTP1: true }, handler);
  await new Promise<void>((r) => tls.listen(0, "127.0.0.1", () => r()));
  const sockets = new Set<{ destroy(): void }>();
  tls.on("secureConnection", (s: Json) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const plain = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    seen.push({
      method: req.method,
      path: u.pathname + u.search,
      version: "1.1",
      headers: Object.fromEntries(req.headers),
      body: await req.text(),
    });
    return new Response(`plain ${req.method} ${u.pathname}`, { headers: { "x-origin": "plain" } });
  });
  return {
    seen,
    tlsPort: (tls.address() as AddressInfo).port,
    plainPort: plain.addr.port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => tls.close(() => r()));
      await plain.shutdown();
    },
  };
}

const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

Deno.test({
  name:
    "replay: HTTP/1.1 and HTTP/2, plain and intercepted TLS, edited, recorded with replayOf; redacted values and forged links refused",
  ignore: needs("curl", "openssl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-replay-" });
    const ca = await opensslCa({ kind: "ecdsa", dir: home, name: "Replay Test CA" });
    const originCert = await testCert();
    await Deno.writeTextFile(`${home}/origin.crt`, originCert.cert);
    const origins = await startEchoOrigins(originCert);
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: store, metadata: { http.body: true } }]
    handler:
      type: http
      metadata:
        sniffing: true
        mitm.certFile: ${ca.cert}
        mitm.keyFile: ${ca.key}
        mitm.upstreamCA: ${home}/origin.crt
recorders:
  - name: store
    store: { path: "${home}/records.db" }
ui: { addr: "127.0.0.1:0", store: store }
`);
    const ui = `http://127.0.0.1:${snoop.uiAddr!.port}`;
    const token = snoop.uiToken!;
    const proxy = `127.0.0.1:${snoop.port()}`;
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${ui}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
      });
    const records = async () =>
      (await (await api("/api/records?limit=100")).json()).records as Json[];
    const byUri = async (re: RegExp) => {
      let found: Json;
      await until(async () => {
        found = (await records()).find((r) => r.kind === "http" && re.test(r.uri));
        return !!found;
      }, `a record for ${re}`);
      return found;
    };
    const replay = (id: number, edits?: unknown, headers: Record<string, string> = {}) =>
      api(`/api/records/${id}/replay`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: edits === undefined ? "" : JSON.stringify(edits),
      });
    try {
      // 1. Plain HTTP/1.1 with a secret that snoop redacts.
      const plainUrl = `http://127.0.0.1:${origins.plainPort}`;
      const c1 = await curl(
        "-x",
        proxy,
        "-H",
        "Authorization: Bearer s3cret",
        "-H",
        "X-A: 1",
        "--data-binary",
        "hello",
        `${plainUrl}/orig?q=1`,
      );
      assert.equal(c1.code, 0, c1.stderr);
      const r1 = await byUri(/\/orig\?q=1$/);
      const before = origins.seen.length;
      const refusedRes = await replay(r1.id);
      assert.equal(refusedRes.status, 400);
      const refused = await refusedRes.json();
      assert.deepEqual(refused.redacted, ["header Authorization"]);
      assert.equal(origins.seen.length, before, "nothing was sent");

      const edited = await replay(r1.id, {
        method: "PUT",
        url: `${plainUrl}/edited?q=2`,
        headers: [["X-A", "2"], ["Authorization", "Bearer real"], ["Content-Type", "text/x"]],
        body: b64("edited body"),
      });
      assert.equal(edited.status, 200, await edited.clone().text());
      const out = await edited.json();
      assert.equal(out.response.status, 200);
      assert.equal(atob(out.response.body), "plain PUT /edited");
      const got = origins.seen.at(-1)!;
      assert.equal(got.method, "PUT");
      assert.equal(got.path, "/edited?q=2");
      assert.equal(got.headers["x-a"], "2");
      assert.equal(got.headers["authorization"], "Bearer real");
      assert.equal(got.body, "edited body");
      assert.equal(got.headers["snoop-replay-of"], undefined, "the link field went upstream");
      assert.ok(out.record, "the replay's record");
      const newRec = await (await api(`/api/records/${out.record}`)).json();
      assert.equal(newRec.replayOf, r1.id);
      assert.match(newRec.http.uri, /\/edited\?q=2$/);
      assert.equal(newRec.http.request.header["Snoop-Replay-Of"], undefined);
      assert.deepEqual(newRec.http.request.header["Authorization"], ["REDACTED"]);

      // 2. Intercepted TLS, HTTP/1.1 and HTTP/2: the origin sees the edit in the same protocol.
      const tlsUrl = `https://localhost:${origins.tlsPort}`;
      for (
        const [flag, version, proto] of [["--http1.1", "1.1", "HTTP/1.1"], [
          "--http2",
          "2.0",
          "HTTP/2.0",
        ]]
      ) {
        const c = await curl(
          flag,
          "--cacert",
          ca.cert,
          "-x",
          proxy,
          "-H",
          "X-B: orig",
          `${tlsUrl}/tls-${version}`,
        );
        assert.equal(c.code, 0, c.stderr);
        assert.equal(c.stdout, `${version} GET /tls-${version} `);
        const r = await byUri(new RegExp(`/tls-${version.replace(".", "\\.")}$`));
        const rec = await (await api(`/api/records/${r.id}`)).json();
        assert.equal(rec.http.proto, proto);
        const res = await replay(r.id, {
          headers: [["X-B", "edited"], ["User-Agent", "replayer"]],
        });
        assert.equal(res.status, 200, await res.clone().text());
        const body = await res.json();
        assert.equal(body.response.status, 200);
        assert.equal(body.response.proto, proto);
        assert.equal(atob(body.response.body), `${version} GET /tls-${version} `);
        const seen = origins.seen.at(-1)!;
        assert.equal(seen.version, version);
        assert.equal(seen.headers["x-b"], "edited");
        assert.equal(seen.headers["snoop-replay-of"], undefined);
        assert.ok(body.record, `${proto}: the replay's record`);
        const replayed = await (await api(`/api/records/${body.record}`)).json();
        assert.equal(replayed.replayOf, r.id);
        assert.equal(replayed.proto, "tls");
        assert.equal(replayed.http.proto, proto);
        assert.deepEqual(replayed.http.request.header["X-B"], ["edited"]);
      }

      // 3. A client cannot forge the link: the field is taken out and ignored.
      const forged = await curl(
        "-x",
        proxy,
        "-H",
        `Snoop-Replay-Of: ${r1.id} guessed`,
        `${plainUrl}/forged`,
      );
      assert.equal(forged.code, 0);
      assert.equal(origins.seen.at(-1)!.headers["snoop-replay-of"], undefined);
      const f = await byUri(/\/forged$/);
      const fRec = await (await api(`/api/records/${f.id}`)).json();
      assert.equal(fRec.replayOf, undefined);
      assert.equal(fRec.http.request.header["Snoop-Replay-Of"], undefined);
      const forgedTls = await curl(
        "--http1.1",
        "--cacert",
        ca.cert,
        "-x",
        proxy,
        "--proxy-header",
        `Snoop-Replay-Of: ${r1.id} guessed`,
        `${tlsUrl}/forged-tls`,
      );
      assert.equal(forgedTls.code, 0, forgedTls.stderr);
      const ft = await byUri(/\/forged-tls$/);
      assert.equal((await (await api(`/api/records/${ft.id}`)).json()).replayOf, undefined);

      // 4. Only the UI's own pages (or a bearer client) may post, and only JSON.
      const ok = { headers: [["Authorization", "x"]] };
      const statusOf = async (p: Promise<Response>) => {
        const r = await p;
        await r.body?.cancel();
        return r.status;
      };
      assert.equal(
        await statusOf(api(`/api/records/${r1.id}/replay`, {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: JSON.stringify(ok),
        })),
        415,
      );
      assert.equal(await statusOf(replay(r1.id, ok, { origin: "http://evil.example" })), 403);
      assert.equal(await statusOf(replay(r1.id, ok, { origin: "http://127.0.0.1:1" })), 403);
      assert.equal(await statusOf(replay(r1.id, ok, { "sec-fetch-site": "same-site" })), 403);
      const cookieOnly = await fetch(`${ui}/api/records/${r1.id}/replay`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          cookie: `snoop_token_${snoop.uiAddr!.port}=${token}`,
        },
        body: JSON.stringify(ok),
      });
      await cookieOnly.body?.cancel();
      assert.equal(cookieOnly.status, 403, "no Origin and no bearer token");
      const sameOrigin = await fetch(`${ui}/api/records/${r1.id}/replay`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          origin: ui,
          cookie: `snoop_token_${snoop.uiAddr!.port}=${token}`,
        },
        body: JSON.stringify(ok),
      });
      await sameOrigin.body?.cancel();
      assert.equal(sameOrigin.status, 200, "the UI's own origin with its cookie");
      assert.equal(await statusOf(replay(999999, ok)), 404);
    } finally {
      await snoop.stop(0);
      await origins.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "replay in the UI (Chromium): asks for the redacted value, sends the edit, shows both side by side",
  ignore: needs("chromium", "curl"),
  async fn() {
    const { Browser } = await import("../helpers/cdp.ts");
    const home = await Deno.makeTempDir({ prefix: "snoop-replay-ui-" });
    const seen: { path: string; auth: string | null; body: string }[] = [];
    const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const u = new URL(req.url);
      seen.push({
        path: u.pathname,
        auth: req.headers.get("authorization"),
        body: await req.text(),
      });
      return new Response(`answer to ${u.pathname}`, { status: seen.length === 1 ? 201 : 202 });
    });
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: store, metadata: { http.body: true } }]
    handler: { type: http, metadata: { sniffing: true } }
recorders:
  - name: store
    store: { path: "${home}/records.db" }
ui: { addr: "127.0.0.1:0", store: store }
`);
    const browser = await Browser.launch(home, snoop.uiUrl!);
    try {
      await browser.waitFor(`document.querySelector("#live")?.textContent === "live"`, "live");
      const c = await curl(
        "-x",
        `127.0.0.1:${snoop.port()}`,
        "-H",
        "Authorization: Bearer s3cret",
        "--data-binary",
        "first",
        `http://127.0.0.1:${origin.addr.port}/ui-orig`,
      );
      assert.equal(c.code, 0);
      await browser.waitFor(`document.querySelector("#records tbody tr")`, "the row");
      await browser.eval(`document.querySelector("#records tbody tr").click()`);
      await browser.waitFor(`document.querySelector("#replay")`, "the replay form");
      await browser.eval(`(() => {
        document.querySelector("#replay").open = true;
        document.querySelector("#replay-url").value =
          document.querySelector("#replay-url").value.replace("/ui-orig", "/ui-edited");
        document.querySelector("#replay-body").value = "second";
        document.querySelector("#replay-send").click();
      })()`);
      // The redacted Authorization must be entered first: nothing is sent without it.
      await browser.waitFor(
        `document.querySelector("#replay-status").textContent.includes("redacted")`,
        "the request for the redacted value",
      );
      assert.equal(seen.length, 1);
      await browser.eval(`(() => {
        document.querySelector('[data-secret="header Authorization"]').value = "Bearer typed";
        document.querySelector("#replay-send").click();
      })()`);
      await browser.waitFor(`document.querySelector("#replay-result .compare")`, "the comparison");
      assert.deepEqual(seen[1], { path: "/ui-edited", auth: "Bearer typed", body: "second" });
      const sides = await browser.eval<string[]>(
        `[...document.querySelectorAll("#replay-result .side")].map((e) => e.textContent)`,
      );
      assert.match(sides[0], /^Original: 201.*answer to \/ui-orig/s);
      assert.match(sides[1], /^Replay: 202.*answer to \/ui-edited/s);
      await browser.screenshot("test-artifacts/ui-replay.png");
      // The replay's record links back to the original.
      await browser.eval(`document.querySelector("#replay-result button.link").click()`);
      await browser.waitFor(`document.querySelector("#replay-of")`, "the link back");
    } finally {
      await browser.close();
      await snoop.stop(0);
      await origin.shutdown();
      await Deno.remove(home, { recursive: true });
    }
  },
});
