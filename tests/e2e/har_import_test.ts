import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import validate from "har-validator";
import { curl, needs, startOrigin, startSnoop } from "../helpers/harness.ts";
import { RecordStore } from "../../src/store/record_store.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function harErrors(har: unknown): Promise<string> {
  try {
    await validate.har(har);
    return "";
  } catch (e) {
    return JSON.stringify((e as { errors?: unknown }).errors ?? String(e), null, 1);
  }
}

const MOD = new URL("../../mod.ts", import.meta.url).pathname;

/** What must survive export → import: request, response, bodies, sizes, time, connection. */
function essentials(r: Json) {
  const h = r.http;
  return {
    method: h.method,
    url: /^https?:\/\//.test(h.uri) ? h.uri : `${h.scheme}://${h.host}${h.uri}`,
    proto: h.proto,
    status: h.statusCode,
    requestHeader: h.request.header,
    responseHeader: h.response.header,
    requestBody: h.request.body,
    responseBody: h.response.body,
    requestLength: h.request.contentLength,
    responseLength: h.response.contentLength,
    timeMs: Math.floor(Date.parse(r.time)),
    durationMs: Math.round(r.duration / 1e6),
    sid: r.sid,
    err: r.err,
  };
}

Deno.test({
  name:
    "HAR import: snoop's export imported by `snoop import` into a fresh store matches; a Chrome-style HAR through POST /api/har",
  ignore: needs("curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-har-import-" });
    const origin = await startOrigin((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/gz") {
        return new Response(new Uint8Array(gzipSync(new TextEncoder().encode('{"zipped":true}'))), {
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
        });
      }
      if (path === "/bin") {
        return new Response(new Uint8Array([0, 1, 2, 255, 254]), {
          headers: { "content-type": "application/octet-stream" },
        });
      }
      if (path === "/big") return new Response("x".repeat(5000));
      return new Response(`hello ${req.method}`, { headers: { "x-origin": "test" } });
    });
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: store, metadata: { http.body: true, http.maxBodySize: 1024 } }]
    handler: { type: http, metadata: { sniffing: true } }
recorders:
  - name: store
    store: { path: "${home}/records.db" }
ui: { addr: "127.0.0.1:0", store: store }
`);
    const ui = `http://127.0.0.1:${snoop.uiAddr!.port}`;
    const auth = { authorization: `Bearer ${snoop.uiToken}` };
    const proxy = `127.0.0.1:${snoop.port()}`;
    try {
      for (
        const args of [
          [`${origin.url}/gz`],
          [`${origin.url}/bin`],
          [`${origin.url}/big`],
          [
            "-H",
            "X-Multi: a",
            "-H",
            "X-Multi: b",
            "--data-binary",
            "posted body",
            `${origin.url}/post?x=1`,
          ],
        ]
      ) {
        assert.equal((await curl("-x", proxy, ...args)).code, 0);
      }
      let exported: Json;
      for (let i = 0; i < 50; i++) {
        exported = await (await fetch(`${ui}/api/har`, { headers: auth })).json();
        if (exported.log.entries.length === 4) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(exported.log.entries.length, 4);
      assert.equal(await harErrors(exported), "");
      await Deno.writeTextFile(`${home}/export.har`, JSON.stringify(exported));

      // snoop import into a fresh store.
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MOD, "import", `${home}/export.har`, "--store", `${home}/fresh.db`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, said);
      assert.match(said, /imported 4 records/);
      const original = new RecordStore(`${home}/records.db`);
      const fresh = new RecordStore(`${home}/fresh.db`);
      try {
        const before = (await original.full({}, 100)).map((r) => r.json)
          .filter((r) => r.http?.method !== "CONNECT");
        const after = (await fresh.full({}, 100)).map((r) => r.json);
        assert.equal(after.length, 4);
        assert.ok(after.every((r) => r.service === "import"));
        const key = (r: Json) => r.http.uri;
        assert.deepEqual(
          after.map(essentials).sort((a, b) => a.url.localeCompare(b.url)),
          before.map(essentials).sort((a, b) => a.url.localeCompare(b.url)),
        );
        // The cut body is still known as cut: 1024 of 5000 bytes.
        const big = after.find((r) => key(r).endsWith("/big"))!;
        assert.equal(big.http.response.contentLength, 5000);
        assert.equal(atob(big.http.response.body).length, 1024);
        // And exports again as the same HAR entries.
        const again = await (await import("../../src/store/har.ts")).toHar(after);
        assert.equal(await harErrors(again), "");
      } finally {
        original.close();
        fresh.close();
      }

      // A HAR as Chrome's devtools save it: HTTP/2 pseudo-headers, lower-case names, a body
      // decoded from gzip as text, a base64 image, and one entry that is not valid.
      const chrome = {
        log: {
          version: "1.2",
          creator: { name: "WebInspector", version: "537.36" },
          pages: [],
          entries: [
            {
              startedDateTime: "2026-01-02T03:04:05.678Z",
              time: 42.5,
              request: {
                method: "GET",
                url: "https://shop.example/api/cart?id=7",
                httpVersion: "http/2.0",
                headers: [
                  { name: ":authority", value: "shop.example" },
                  { name: ":path", value: "/api/cart?id=7" },
                  { name: "accept", value: "application/json" },
                  { name: "cookie", value: "sid=abc" },
                ],
                queryString: [{ name: "id", value: "7" }],
                cookies: [],
                headersSize: -1,
                bodySize: 0,
              },
              response: {
                status: 200,
                statusText: "",
                httpVersion: "http/2.0",
                headers: [
                  { name: "content-type", value: "application/json" },
                  { name: "content-encoding", value: "gzip" },
                ],
                cookies: [],
                content: { size: 17, mimeType: "application/json", text: '{"items":["tea"]}' },
                redirectURL: "",
                headersSize: -1,
                bodySize: 40,
                _transferSize: 140,
              },
              cache: {},
              timings: { blocked: 1, dns: 0, connect: 0, send: 0.5, wait: 40, receive: 1 },
              serverIPAddress: "[2001:db8::1]",
              connection: "4321",
            },
            {
              startedDateTime: "2026-01-02T03:04:06.000Z",
              time: 10,
              request: {
                method: "POST",
                url: "https://shop.example/upload",
                httpVersion: "HTTP/1.1",
                headers: [{ name: "Content-Type", value: "image/png" }],
                queryString: [],
                cookies: [],
                headersSize: 120,
                bodySize: 4,
                postData: { mimeType: "image/png", text: "iVBORw==", encoding: "base64" },
              },
              response: {
                status: 201,
                statusText: "Created",
                httpVersion: "HTTP/1.1",
                headers: [],
                cookies: [],
                content: { size: 4, mimeType: "image/png", text: "iVBORw==", encoding: "base64" },
                redirectURL: "",
                headersSize: -1,
                bodySize: 4,
              },
              cache: {},
              timings: { send: 0, wait: 10, receive: 0 },
            },
            { startedDateTime: "yesterday", request: { method: "GET", url: "x" }, response: {} },
          ],
        },
      };
      const refusedType = await fetch(`${ui}/api/har`, {
        method: "POST",
        headers: { ...auth, "content-type": "text/plain" },
        body: JSON.stringify(chrome),
      });
      await refusedType.body?.cancel();
      assert.equal(refusedType.status, 415, "a form could post text/plain");
      const crossSite = await fetch(`${ui}/api/har`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json", origin: "http://evil.example" },
        body: JSON.stringify(chrome),
      });
      await crossSite.body?.cancel();
      assert.equal(crossSite.status, 403);
      const posted = await fetch(`${ui}/api/har`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(chrome),
      });
      assert.equal(posted.status, 200);
      const result = await posted.json();
      assert.equal(result.imported, 2);
      assert.equal(result.skipped, 1);
      assert.match(result.errors[0], /^entries\[2\]: /);
      const list = await (await fetch(`${ui}/api/records?service=import`, { headers: auth }))
        .json();
      assert.equal(list.records.length, 2);
      // Searchable like recorded traffic, by URI and by header.
      const found = await (await fetch(`${ui}/api/records?q=cart`, { headers: auth })).json();
      assert.equal(found.records.length, 1);
      const cart = await (await fetch(`${ui}/api/records/${found.records[0].id}`, {
        headers: auth,
      })).json();
      assert.equal(cart.host, "shop.example:443");
      assert.equal(cart.proto, "tls");
      assert.equal(cart.dst, "[2001:db8::1]:443");
      assert.equal(cart.duration, 42_500_000);
      assert.equal(cart.time, "2026-01-02T03:04:05.678Z");
      assert.equal(cart.http.proto, "HTTP/2.0");
      assert.equal(cart.http.uri, "/api/cart?id=7");
      assert.deepEqual(cart.http.request.header, {
        Accept: ["application/json"],
        Cookie: ["sid=abc"],
      });
      // The text was stored decoded: the body endpoint shows it without trying gunzip.
      assert.deepEqual(cart.http.response.header["X-Har-Content-Encoding"], ["gzip"]);
      const body = await fetch(
        `${ui}/api/records/${cart.id ?? found.records[0].id}/body/response`,
        {
          headers: auth,
        },
      );
      assert.equal(await body.text(), '{"items":["tea"]}');
      const upload = list.records.find((r: Json) => r.method === "POST");
      const up = await (await fetch(`${ui}/api/records/${upload.id}`, { headers: auth })).json();
      assert.equal(up.http.request.body, "iVBORw==");
      assert.equal(up.http.response.body, "iVBORw==");
      assert.equal(up.http.statusCode, 201);
    } finally {
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
