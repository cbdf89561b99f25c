import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import validate from "har-validator";
import { toHar } from "../../src/store/har.ts";
import {
  curl,
  freePort,
  needs,
  startOrigin,
  startSnoop,
  startWebhook,
} from "../helpers/harness.ts";

/** The validator's error list, readable in an assertion message. */
async function harErrors(har: unknown): Promise<string> {
  try {
    await validate.har(har);
    return "";
  } catch (e) {
    return JSON.stringify((e as { errors?: unknown }).errors ?? String(e), null, 1);
  }
}

Deno.test({
  name: "har export: real traffic (failed dial, cut bodies, POST, gzip) passes har-validator",
  ignore: needs("curl"),
  async fn() {
    const big = "x".repeat(5000);
    const origin = await startOrigin((req, body) => {
      const path = new URL(req.url).pathname;
      if (path === "/gzip") {
        return new Response(new Uint8Array(gzipSync(new TextEncoder().encode(big))), {
          headers: { "content-type": "text/plain", "content-encoding": "gzip" },
        });
      }
      if (path === "/post") return new Response(`got ${body.length}`);
      return new Response(big, { headers: { "content-type": "text/plain" } });
    });
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: hook, metadata: { http.body: true, http.maxBodySize: 100 } }]
    handler: { type: http }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const proxy = `http://127.0.0.1:${snoop.port()}`;
      const closed = freePort();
      const got = await curl("-x", proxy, `${origin.url}/big`);
      assert.ok(
        got.stdout === big,
        `the body came through whole: ${got.stdout.slice(0, 200)} ${got.stderr}`,
      );
      await curl("-x", proxy, "--compressed", `${origin.url}/gzip`);
      await curl("-x", proxy, "-d", "a=1&b=2", `${origin.url}/post`);
      await curl("-x", proxy, `http://127.0.0.1:${closed}/nothing-listens`);
      const records = await hook.waitFor(4);
      const har = toHar(records);
      assert.equal(await harErrors(har), "");
      const entries = har.log.entries;
      assert.equal(entries.length, 4);

      const byPath = (p: string) => entries.find((e) => e.request.url.endsWith(p))!;
      const cut = byPath("/big");
      assert.equal(cut.response.content.size, 5000);
      assert.equal(cut.response._truncated, true);
      assert.match(cut.response.content.comment ?? "", /100 of 5000 bytes/);
      assert.equal(atob(cut.response.content.text!).length, 100);

      const failed = byPath("/nothing-listens");
      assert.equal("serverIPAddress" in failed, false, "no address for a dial that failed");
      assert.ok(failed.comment, "the entry says why it failed");
      assert.equal(byPath("/post").request.postData?.mimeType, "application/x-www-form-urlencoded");
      assert.equal(byPath("/post").response._truncated, false);
      assert.equal(byPath("/post").serverIPAddress, "127.0.0.1");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});
