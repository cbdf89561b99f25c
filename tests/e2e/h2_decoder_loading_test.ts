import assert from "node:assert/strict";
import { sniffingForwarder, startOrigin, startSnoop, startWebhook } from "../helpers/harness.ts";
import { hpackLoaded } from "../../src/protocol/http2/hpack_decoder.ts";
import { h2Request } from "../helpers/h2_request.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

// Alone in its file: each test file runs in a fresh isolate, so the HPACK decoder (hpack.js)
// is not loaded when this test starts, as in a proxy that has not seen HTTP/2 yet.
Deno.test({
  name:
    "sniffing: the HPACK decoder loads with the first HTTP/2 tunnel, not before, and that tunnel's streams are all recorded",
  async fn() {
    const { connect } = await import("node:http2");
    const origin = await startOrigin((req, body) =>
      new Response(`${new URL(req.url).pathname} ${body}`, { headers: { "X-Seen": "yes" } })
    );
    const hook = await startWebhook();
    const snoop = await startSnoop(sniffingForwarder(origin.port, hook.url));
    let session: ReturnType<typeof connect> | undefined;
    try {
      // An HTTP/1 tunnel first: sniffed and recorded without the decoder.
      const h1 = await fetch(`http://127.0.0.1:${snoop.port()}/h1`);
      assert.equal(await h1.text(), "/h1 ");
      const [first] = (await hook.waitFor(1)) as Rec[];
      assert.equal(first.http.proto, "HTTP/1.1");
      assert.equal(hpackLoaded(), false, "no HTTP/2 seen yet");

      // The first HTTP/2 tunnel: its bytes, both ways, wait for the decoder (copied, in
      // order), then are sniffed as they came.
      const h2 = session = connect(`http://127.0.0.1:${snoop.port()}`);
      const send = (path: string) =>
        h2Request(h2, { ":path": path, ":method": "POST", "x-test": path }, `body of ${path}`);
      const bodies = await Promise.all(["/a", "/b", "/c"].map(send));
      assert.deepEqual(bodies, ["/a body of /a", "/b body of /b", "/c body of /c"]);
      h2.close();
      await new Promise((r) => h2.once("close", r));
      const recs = ((await hook.waitFor(4)) as Rec[]).slice(1);
      assert.equal(hpackLoaded(), true);
      assert.deepEqual(recs.map((r) => r.http.uri).sort(), ["/a", "/b", "/c"]);
      for (const r of recs) {
        assert.equal(r.http.proto, "HTTP/2.0");
        assert.equal(r.err, undefined);
        assert.deepEqual(r.http.request.header["X-Test"], [r.http.uri]);
        assert.deepEqual(r.http.response.header["X-Seen"], ["yes"]);
        assert.equal(atob(r.http.request.body), `body of ${r.http.uri}`);
        assert.equal(atob(r.http.response.body), `${r.http.uri} body of ${r.http.uri}`);
      }
    } finally {
      session?.destroy();
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});
