import assert from "node:assert/strict";
import zlib from "node:zlib";
import { Buffer } from "node:buffer";
import { curl, freePort, needs, startOrigin, startSnoop, until } from "../helpers/harness.ts";
import { spawnLogged } from "../helpers/idle_check.ts";
import { Browser } from "../helpers/cdp.ts";

const ARTIFACTS = "test-artifacts";

Deno.test({
  name:
    "web UI in Chromium: records arrive live, filter, a gzip JSON body shown decoded, HAR export",
  ignore: needs("chromium", "curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-ui-" });
    const origin = await startOrigin((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/user") {
        return new Response(
          new Uint8Array(zlib.gzipSync(Buffer.from('{"user":"alice","roles":["admin"]}'))),
          {
            headers: { "content-type": "application/json", "content-encoding": "gzip" },
          },
        );
      }
      return new Response("other page", { headers: { "content-type": "text/plain" } });
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
    const ui = `http://127.0.0.1:${snoop.uiAddr!.port}/`;
    // The address snoop prints, with ?token=: the browser trades it for a cookie.
    assert.match(snoop.uiUrl!, /\?token=[A-Za-z0-9_-]{43}$/);
    const browser = await Browser.launch(home, snoop.uiUrl!);
    try {
      await browser.waitFor(
        `document.querySelector("#live")?.textContent === "live"`,
        "the live feed",
      );
      // The token left the address bar, and page script cannot read the cookie.
      assert.equal(await browser.eval<string>("location.href"), ui);
      assert.equal(await browser.eval<string>("document.cookie"), "");
      const proxy = `127.0.0.1:${snoop.port()}`;
      await curl("-x", proxy, `${origin.url}/user`);
      await curl("-x", proxy, `${origin.url}/other`);
      // Both rows appear without a reload (server-sent events).
      await browser.waitFor(
        `document.querySelectorAll("#records tbody tr").length === 2`,
        "two live rows",
      );
      await browser.screenshot(`${ARTIFACTS}/ui-live.png`);
      // Filter to /user.
      await browser.eval(`(() => {
        document.querySelector("input[name=q]").value = "/user";
        document.querySelector("#filters button").click();
      })()`);
      await browser.waitFor(
        `document.querySelectorAll("#records tbody tr").length === 1 && document.querySelector("#records tbody tr").textContent.includes("/user")`,
        "the filtered list",
      );
      // Open the detail view: the gzip body is shown decoded and pretty-printed.
      await browser.eval(`document.querySelector("#records tbody tr").click()`);
      await browser.waitFor(
        `document.querySelector("#response-body pre.json")`,
        "the decoded body",
      );
      const shown = await browser.eval<string>(
        `document.querySelector("#response-body").textContent`,
      );
      assert.match(shown, /decoded from gzip/);
      assert.match(shown, /"user": "alice"/);
      await browser.screenshot(`${ARTIFACTS}/ui-detail.png`);
      // Export HAR for the current filter, as the link does.
      const har = await browser.eval<{ version: string; entries: { request: { url: string } }[] }>(
        `fetch(document.querySelector("#har").href).then((r) => r.json()).then((h) => h.log)`,
      );
      assert.equal(har.version, "1.2");
      assert.deepEqual(har.entries.map((e) => e.request.url), [`${origin.url}/user`]);
    } finally {
      await browser.close();
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});

/** curl against the UI: status, headers and body. */
async function hit(url: string, ...args: string[]) {
  const r = await curl("-s", "-i", ...args, url);
  const [head, ...body] = r.stdout.split("\r\n\r\n");
  return {
    status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1]),
    header: (name: string) => new RegExp(`^${name}: (.*)$`, "im").exec(head)?.[1]?.trim() ?? null,
    body: body.join("\r\n\r\n"),
  };
}

Deno.test({
  name:
    "web UI refuses DNS rebinding (421), other sites (403) and missing tokens (401); ?token= becomes a cookie",
  ignore: needs("curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-ui-access-" });
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
    const base = `http://127.0.0.1:${snoop.uiAddr!.port}`;
    const token = snoop.uiToken!;
    const bearer = ["-H", `Authorization: Bearer ${token}`];
    try {
      // A page on evil.example whose name now resolves to 127.0.0.1: the browser sends
      // Host: evil.example, even with a valid cookie or token.
      for (const path of ["/", "/api/records", "/api/events", "/healthz"]) {
        const r = await hit(`${base}${path}`, "-H", "Host: evil.example", ...bearer);
        assert.equal(r.status, 421, path);
      }
      // Another site's page calling the API with the user's cookie: refused.
      for (const path of ["/api/records", "/api/events"]) {
        const o = await hit(`${base}${path}`, "-H", "Origin: http://evil.example", ...bearer);
        assert.equal(o.status, 403, path);
        const s = await hit(`${base}${path}`, "-H", "Sec-Fetch-Site: cross-site", ...bearer);
        assert.equal(s.status, 403, path);
      }
      // No token, a wrong one.
      for (const path of ["/", "/app.js", "/api/records", "/api/events", "/metrics"]) {
        assert.equal((await hit(`${base}${path}`)).status, 401, path);
      }
      assert.equal((await hit(`${base}/?token=wrong`)).status, 401);
      // The printed URL: 303 to / with the cookie, then the cookie alone is enough.
      const jar = `${home}/cookies`;
      const login = await hit(`${base}/?token=${token}`, "-c", jar);
      assert.equal(login.status, 303);
      assert.equal(login.header("location"), "/");
      assert.equal(
        login.header("set-cookie"),
        `snoop_token_${snoop.uiAddr!.port}=${token}; HttpOnly; SameSite=Strict; Path=/`,
      );
      const page = await hit(`${base}/`, "-b", jar);
      assert.equal(page.status, 200);
      assert.match(page.body, /<title>snoop<\/title>/);
      assert.equal((await hit(`${base}/api/records`, "-b", jar)).status, 200);
      // The headers that keep the page to its own script, unframed, without a Referer.
      const csp = page.header("content-security-policy")!;
      for (
        const d of [
          "default-src 'self'",
          "script-src 'self'",
          "style-src 'self'",
          "frame-ancestors 'none'",
          "base-uri 'none'",
        ]
      ) {
        assert.ok(csp.includes(d), d);
      }
      assert.doesNotMatch(csp, /unsafe/);
      assert.equal(page.header("x-content-type-options"), "nosniff");
      assert.equal(page.header("referrer-policy"), "no-referrer");
      assert.equal(page.header("x-frame-options"), "DENY");
      // Scripts use the bearer token; the health check and the CA need none.
      const api = await hit(`${base}/api/records`, ...bearer);
      assert.equal(api.status, 200);
      assert.equal(api.header("x-frame-options"), "DENY");
      const health = await hit(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(health.body, "ok");
      assert.equal((await hit(`${base}/favicon.ico`)).status, 200);
      assert.equal((await hit(`${base}/api/records`, "-X", "POST", ...bearer)).status, 405);
    } finally {
      await snoop.stop(0);
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "snoop collect: the query side prints a random token URL, refuses without it and answers only its own Host",
  ignore: needs("curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-collect-ui-" });
    const port = freePort();
    const collector = spawnLogged([
      "run",
      "--allow-all",
      "mod.ts",
      "collect",
      "--addr",
      `127.0.0.1:${port}`,
      "--store",
      `${home}/c.db`,
    ]);
    try {
      await until(() => /collector listening/.test(collector.log()), "the collector's start line");
      const token = new RegExp(`ui="?http://127\\.0\\.0\\.1:${port}/\\?token=([A-Za-z0-9_-]{43})`)
        .exec(collector.log())?.[1];
      assert.ok(token, collector.log());
      const base = `http://127.0.0.1:${port}`;
      const bearer = ["-H", `Authorization: Bearer ${token}`];
      assert.equal((await hit(`${base}/api/records`)).status, 401);
      assert.equal((await hit(`${base}/api/records`, ...bearer)).status, 200);
      assert.equal(
        (await hit(`${base}/api/records`, "-H", "Host: evil.example", ...bearer)).status,
        421,
      );
      assert.equal(
        (await hit(`${base}/api/events`, "-H", "Origin: http://evil.example", ...bearer)).status,
        403,
      );
      assert.equal((await hit(`${base}/?token=${token}`)).status, 303);
    } finally {
      await collector.stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});
