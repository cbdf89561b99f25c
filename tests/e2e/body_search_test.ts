import assert from "node:assert/strict";
import zlib from "node:zlib";
import { curl, needs, startOrigin, startSnoop, until } from "../helpers/harness.ts";
import { Browser } from "../helpers/cdp.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const MARKUP = `<img src=x onerror=document.title='ran'>`;

Deno.test({
  name:
    "body search: compressed bodies through the proxy are found by ~bs and free text, and the UI marks the match as text",
  ignore: needs("chromium", "curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-body-search-" });
    const json = JSON.stringify({ note: `${MARKUP} Zebra crossing ahead`, n: 7 });
    const origin = await startOrigin((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/gz") {
        return new Response(new Uint8Array(zlib.gzipSync(json)), {
          headers: { "content-type": "application/json", "content-encoding": "gzip" },
        });
      }
      if (path === "/br") {
        return new Response(new Uint8Array(zlib.brotliCompressSync("plain text: a zebra!")), {
          headers: { "content-type": "text/plain", "content-encoding": "br" },
        });
      }
      return new Response("nothing striped", { headers: { "content-type": "text/plain" } });
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
    let ui: Browser | undefined;
    try {
      const proxy = `127.0.0.1:${snoop.port("proxy")}`;
      for (const path of ["/gz", "/br", "/plain"]) {
        const res = await curl("-sS", "-o", "/dev/null", "-x", proxy, `${origin.url}${path}`);
        assert.equal(res.code, 0, res.stderr);
      }
      const api = async (path: string) =>
        await (await fetch(`http://127.0.0.1:${snoop.uiAddr!.port}${path}`, {
          headers: { authorization: `Bearer ${snoop.uiToken}` },
        })).json();
      await until(async () => (await api("/api/records")).records.length >= 3, "3 records");
      const found = async (f: string) =>
        ((await api(`/api/records?f=${encodeURIComponent(f)}`)).records as Json[])
          .map((r) => new URL(r.uri, origin.url).pathname).sort();
      assert.deepEqual(await found("~bs zebra"), ["/br", "/gz"]);
      assert.deepEqual(await found("zebra"), ["/br", "/gz"]);
      assert.deepEqual(await found("~bs 'zebra crossing'"), ["/gz"]);
      assert.deepEqual(await found("~bq zebra"), []);
      assert.deepEqual(await found("~bs striped"), ["/plain"]);

      ui = await Browser.launch(home, snoop.uiUrl!);
      await ui.waitFor(`document.querySelectorAll("#records tbody tr").length === 3`, "the list");
      await ui.eval(`(() => {
        const form = document.querySelector("#filters");
        form.querySelector("input[name=f]").value = "~bs zebra & ~m GET";
        form.requestSubmit();
      })()`);
      await ui.waitFor(
        `document.querySelectorAll("#records tbody tr").length === 2`,
        "the filtered list",
      );
      const gz = (await api(`/api/records?f=${encodeURIComponent("~u /gz")}`)).records[0];
      await ui.eval(`document.querySelector('#records tbody tr[data-id="${gz.id}"]').click()`);
      await ui.waitFor(`document.querySelector("#detail").dataset.id === "${gz.id}"`, "detail");
      await ui.waitFor(`document.querySelector("#response-body mark")`, "a highlighted match");
      const marks = await ui.eval<string[]>(
        `[...document.querySelectorAll("#detail mark")].map((m) => m.textContent)`,
      );
      assert.deepEqual(marks, ["Zebra"]);
      // The highlighted body is still text: the markup in it made no element and ran nothing.
      const body = await ui.eval<string>(
        `document.querySelector("#response-body pre").textContent`,
      );
      assert.ok(body.includes(MARKUP), body);
      assert.equal(await ui.eval<number>(`document.querySelectorAll("#detail img").length`), 0);
      assert.notEqual(await ui.eval<string>(`document.title`), "ran");
    } finally {
      await ui?.close();
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});
