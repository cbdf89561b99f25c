import assert from "node:assert/strict";
import zlib from "node:zlib";
import { Buffer } from "node:buffer";
import { curl, needs, startOrigin, startSnoop } from "../helpers/harness.ts";
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
    const browser = await Browser.launch(home, ui);
    try {
      await browser.waitFor(
        `document.querySelector("#live")?.textContent === "live"`,
        "the live feed",
      );
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
