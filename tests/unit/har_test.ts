import assert from "node:assert/strict";
import validate from "har-validator";
import { toHar } from "../../src/store/har.ts";

const record = (response: Record<string, unknown>) => ({
  service: "s",
  host: "example.com:80",
  proto: "http",
  dst: "93.184.215.14:80",
  http: {
    host: "example.com",
    method: "GET",
    proto: "HTTP/1.1",
    scheme: "",
    uri: "http://example.com/",
    statusCode: 200,
    request: { contentLength: 0, header: {}, body: null },
    response: { header: { "Content-Type": ["text/plain"] }, ...response },
  },
  sid: "crugtkkdfur6asj5vbtg",
  duration: 1_000_000,
  time: "2026-12-07T10:00:00Z",
});

Deno.test("har: bodies the capture budget cut or left out are marked; uncaptured ones are not", async () => {
  const har = toHar([
    record({ contentLength: 4, body: null }),
    record({ contentLength: 4, body: null, bodyTruncated: "capture-budget" }),
    record({ contentLength: 4, body: btoa("ab"), bodyTruncated: "capture-budget" }),
  ]);
  await validate.har(har);
  const [off, left, cut] = har.log.entries.map((e) => e.response);
  assert.equal(off._truncated, false);
  assert.equal(off.content.comment, undefined);
  assert.equal(left._truncated, true);
  assert.equal(
    left.content.comment,
    "body truncated: 0 of 4 bytes captured (capture budget spent)",
  );
  assert.equal(cut._truncated, true);
  assert.equal(cut.content.comment, "body truncated: 2 of 4 bytes captured (capture budget spent)");
});

Deno.test("store export: past the byte cap only the newest records that fit are read", async () => {
  const { RecordStore } = await import("../../src/store/record_store.ts");
  const { sampleRecord } = await import("../helpers/records.ts");
  const dir = await Deno.makeTempDir();
  const store = new RecordStore(`${dir}/r.db`);
  try {
    const body = btoa("x".repeat(30_000));
    store.insertBatch(
      Array.from({ length: 10 }, (_, i) =>
        sampleRecord(i, {
          http: { response: { contentLength: 30_000, header: {}, body } },
        })),
    );
    const all = store.fullSync({}, 100);
    assert.equal(all.length, 10);
    const capped = store.fullSync({}, 100, 3 * 41_000);
    assert.deepEqual(capped.map((r) => r.json.http.uri), ["/item/7", "/item/8", "/item/9"]);
    // One record is always read, however large.
    assert.equal(store.fullSync({}, 100, 1).length, 1);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
