import assert from "node:assert/strict";
import hpack from "hpack.js";
import { Buffer } from "node:buffer";
import { H2_PREFACE } from "../../src/protocol/detect.ts";
import type { HttpExchange } from "../../src/sniff/exchange.ts";
import { H2Sniffer } from "../../src/sniff/http2/h2_sniffer.ts";
import { loadHpack } from "../../src/protocol/http2/hpack_decoder.ts";
import { ascii, concat, everySplit } from "../helpers/chunks.ts";
import { encoder, frame, GET } from "../helpers/h2_frames.ts";

// The sniffer decodes HPACK with hpack.js, which snoop loads on first use.
await loadHpack();

/** A client and server transcript: two streams, the second with a padded, CONTINUED request. */
function transcript() {
  const enc = encoder(), senc = encoder();
  const req1 = enc([[":method", "GET"], [":scheme", "http"], [":authority", "a.test"], [
    ":path",
    "/one",
  ], ["user-agent", "t"]]);
  const req3 = enc([[":method", "POST"], [":scheme", "http"], [":authority", "a.test"], [
    ":path",
    "/three",
  ], ["x-big", "v"]]);
  const client = concat([
    ascii(H2_PREFACE),
    frame(4, 0, 0, new Uint8Array(0)), // SETTINGS
    frame(1, 0x5, 1, req1), // HEADERS END_STREAM|END_HEADERS
    frame(1, 0x0, 3, req3.subarray(0, 5)), // HEADERS without END_HEADERS
    frame(9, 0x4, 3, req3.subarray(5)), // CONTINUATION END_HEADERS
    frame(0, 0x9, 3, concat([Uint8Array.of(2), ascii("body"), new Uint8Array(2)])), // padded DATA, END_STREAM
  ]);
  const server = concat([
    frame(4, 0, 0, new Uint8Array(0)),
    frame(1, 0x4, 3, senc([[":status", "201"], ["x-s", "3"]])),
    frame(0, 0x1, 3, ascii("created")),
    frame(1, 0x4, 1, senc([[":status", "200"], ["content-type", "text/plain"]])),
    frame(0, 0x0, 1, ascii("hel")),
    frame(0, 0x1, 1, ascii("lo")),
  ]);
  return { client, server };
}

Deno.test("h2 sniffer pairs streams, follows CONTINUATION and padding, on every split", () => {
  const { client, server } = transcript();
  for (const chunks of everySplit(client)) {
    const done: HttpExchange[] = [];
    const s = new H2Sniffer({ body: true, maxBodySize: 1024 }, (ex) => done.push(ex));
    for (const c of chunks) s.client(c);
    s.server(server);
    assert.equal(s.failed, undefined);
    assert.deepEqual(done.map((e) => [e.uri, e.method, e.status]), [["/three", "POST", 201], [
      "/one",
      "GET",
      200,
    ]]);
    assert.equal(Buffer.from(done[0].requestBody.base64()!, "base64").toString(), "body");
    assert.equal(Buffer.from(done[1].responseBody.base64()!, "base64").toString(), "hello");
    assert.deepEqual(done[1].requestHeaders, [["user-agent", "t"]]);
    assert.equal(done[1].authority, "a.test");
  }
});

Deno.test("h2 sniffer reports reset and unfinished streams with an error", () => {
  const enc = encoder();
  const client = concat([
    ascii(H2_PREFACE),
    frame(
      1,
      0x5,
      1,
      enc([[":method", "GET"], [":scheme", "https"], [":authority", "x"], [":path", "/r"]]),
    ),
    frame(
      1,
      0x5,
      3,
      enc([[":method", "GET"], [":scheme", "https"], [":authority", "x"], [":path", "/open"]]),
    ),
    frame(3, 0, 1, Uint8Array.of(0, 0, 0, 8)), // RST_STREAM CANCEL
  ]);
  const done: HttpExchange[] = [];
  const s = new H2Sniffer({ body: false, maxBodySize: 0 }, (ex) => done.push(ex));
  s.client(client);
  s.finish();
  assert.deepEqual(done.map((e) => [e.uri, e.error]), [
    ["/r", "stream reset by client (code 8)"],
    ["/open", "connection closed before the response ended"],
  ]);
});

Deno.test("h2 sniffer stops on a broken header block without throwing", () => {
  const done: HttpExchange[] = [];
  const s = new H2Sniffer({ body: false, maxBodySize: 0 }, (ex) => done.push(ex));
  s.client(concat([ascii(H2_PREFACE), frame(9, 0x4, 1, Uint8Array.of(1, 2, 3))]));
  assert.match(s.failed!, /^http2: /);
  assert.equal(s.limitHit, false, "a broken block is not a limit");
  s.client(new Uint8Array(100)); // ignored after failure
  assert.equal(done.length, 0);
});

Deno.test("h2 sniffer follows a dynamic table grown up to the size the other side announced", () => {
  // The client announces a 64 KiB table; the server's encoder then grows to it (a size
  // update at the start of its first block) and fills it past the default 4096 bytes.
  const clientSettings = frame(4, 0, 0, Uint8Array.of(0, 1, 0, 1, 0, 0));
  const c = hpack.compressor.create({ table: { maxSize: 65536 } });
  c.updateTableSize(65536);
  const big = "v".repeat(3000);
  const enc = encoder();
  const client = concat([
    ascii(H2_PREFACE),
    clientSettings,
    frame(
      1,
      0x5,
      1,
      enc([[":method", "GET"], [":scheme", "https"], [":authority", "x"], [":path", "/1"]]),
    ),
    frame(
      1,
      0x5,
      3,
      enc([[":method", "GET"], [":scheme", "https"], [":authority", "x"], [":path", "/2"]]),
    ),
  ]);
  const block = (headers: [string, string][]) => {
    c.write(headers.map(([name, value]) => ({ name, value })));
    return new Uint8Array(c.read() as Buffer);
  };
  const server = concat([
    frame(1, 0x5, 1, block([[":status", "200"], ["x-a", big], ["x-b", big]])),
    // Indexed from the grown table: both 3000-byte entries are still there.
    frame(1, 0x5, 3, block([[":status", "200"], ["x-a", big], ["x-b", big]])),
  ]);
  const done: HttpExchange[] = [];
  const s = new H2Sniffer({ body: false, maxBodySize: 0 }, (ex) => done.push(ex));
  s.client(client);
  s.server(server);
  assert.equal(s.failed, undefined);
  assert.deepEqual(done.map((e) => [e.uri, e.status, e.responseHeaders?.length]), [["/1", 200, 2], [
    "/2",
    200,
    2,
  ]]);
});

Deno.test("h2 sniffer: endless 1-byte CONTINUATION frames stop at the block limit, in linear time", () => {
  const s = new H2Sniffer({ body: false, maxBodySize: 0 }, () => {});
  s.client(concat([ascii(H2_PREFACE), frame(1, 0, 1, Uint8Array.of(0x82))]));
  // 200,000 frames of one byte: quadratic bookkeeping would take minutes here.
  const one = frame(9, 0, 1, Uint8Array.of(0x40));
  const burst = concat(Array.from({ length: 10_000 }, () => one));
  for (let i = 0; i < 20 && !s.failed; i++) s.client(burst);
  assert.equal(s.failed, "http2: header block too large");
  assert.ok(s.limitHit);
});

Deno.test("h2 sniffer: a frame length over the sniffer's cap stops sniffing without buffering it", () => {
  const s = new H2Sniffer({ body: false, maxBodySize: 0 }, () => {});
  s.server(Uint8Array.of(0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1)); // 16 MiB DATA announced
  assert.match(s.failed!, /^http2: frame of 16777215 bytes is over the 1048576 byte limit/);
  assert.ok(s.limitHit);
});

Deno.test("h2 sniffer: an HPACK bomb (one 4 KB entry referenced 100 times) hits the list limit", () => {
  // HPACK by hand (RFC 7541): static :method GET (0x82), :scheme https (0x87), :path / (0x84);
  // a literal with incremental indexing (0x40) of x-big with a 4000-byte value (length as a
  // 7-bit-prefix integer: 0x7f 0xa1 0x1e); then 100 one-byte references to that entry (62).
  const literal = concat([
    Uint8Array.of(0x40, 5),
    ascii("x-big"),
    Uint8Array.of(0x7f, 0xa1, 0x1e),
    ascii("v".repeat(4000)),
  ]);
  const bomb = concat([Uint8Array.of(0x82, 0x87, 0x84), literal, new Uint8Array(100).fill(0xbe)]);
  const done: HttpExchange[] = [];
  const s = new H2Sniffer({ body: false, maxBodySize: 0 }, (ex) => done.push(ex));
  const first = encoder()(GET("/a"));
  s.client(concat([ascii(H2_PREFACE), frame(1, 0x5, 1, first), frame(1, 0x5, 3, bomb)]));
  assert.equal(s.failed, "http2: header list too large");
  assert.ok(s.limitHit);
  s.finish();
  assert.deepEqual(done.map((e) => [e.uri, e.error]), [["/a", "http2: header list too large"]]);
});

Deno.test("h2 sniffer: rapid reset (HEADERS + RST_STREAM x 600) stops sniffing with the reason", () => {
  const enc = encoder();
  const parts: Uint8Array[] = [ascii(H2_PREFACE)];
  for (let i = 0; i < 600; i++) {
    const id = 1 + 2 * i;
    parts.push(frame(1, 0x5, id, enc(GET(`/r${i}`))), frame(3, 0, id, Uint8Array.of(0, 0, 0, 8)));
  }
  const done: HttpExchange[] = [];
  const s = new H2Sniffer({ body: false, maxBodySize: 0 }, (ex) => done.push(ex));
  s.client(concat(parts));
  assert.match(s.failed!, /^http2: rapid reset: 500 of 500 streams reset within 1000 ms/);
  assert.equal(done.length, 500, "records stop once the flood is recognised");
  assert.ok(s.limitHit);
});

Deno.test("h2 sniffer: streams beyond the tracked limit are decoded but not recorded", () => {
  const enc = encoder();
  const parts: Uint8Array[] = [ascii(H2_PREFACE)];
  for (let i = 0; i < 300; i++) parts.push(frame(1, 0x5, 1 + 2 * i, enc(GET(`/s${i}`))));
  parts.push(frame(1, 0x5, 601, enc(GET("/last"))));
  const done: HttpExchange[] = [];
  const s = new H2Sniffer({ body: false, maxBodySize: 0 }, (ex) => done.push(ex));
  s.client(concat(parts));
  assert.equal(s.failed, undefined, "HPACK stays in step for untracked streams");
  s.finish();
  assert.equal(done.length, 256);
});
