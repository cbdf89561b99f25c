import assert from "node:assert/strict";
import {
  FrameSampler,
  type WsFrame,
  WsFrameParser,
} from "../../src/protocol/websocket/frame_parser.ts";
import { concat, everySplit } from "../helpers/chunks.ts";

// RFC 6455 §5.7 examples: a masked "Hello" from the client, an unmasked one from the server,
// and a 256-byte binary frame with a 16-bit length.
const maskedHello = Uint8Array.of(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58);
const hello = Uint8Array.of(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f);
const binary256 = concat([Uint8Array.of(0x82, 0x7e, 0x01, 0x00), new Uint8Array(256).fill(7)]);
const stream = concat([maskedHello, hello, binary256]);

Deno.test("websocket frames from RFC 6455 §5.7 parse on every split", () => {
  for (const chunks of everySplit(stream)) {
    const frames: WsFrame[] = [];
    const p = new WsFrameParser(100);
    for (const c of chunks) p.push(c, (f) => frames.push(f));
    assert.equal(frames.length, 3);
    const [a, b, c] = frames;
    assert.deepEqual([a.fin, a.opcode, a.masked, a.length, a.wireLength], [true, 1, true, 5, 11]);
    // Mask bytes 37 fa 21 3d read little-endian.
    assert.equal(a.maskKey, 0x3d21fa37);
    assert.deepEqual([...a.payload], [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert.equal(new TextDecoder().decode(b.payload), "Hello");
    assert.equal(b.masked, false);
    assert.deepEqual([c.opcode, c.length, c.wireLength, c.payload.length], [2, 256, 260, 100]);
  }
});

Deno.test("websocket 64-bit lengths and empty control frames", () => {
  const frames: WsFrame[] = [];
  const p = new WsFrameParser(10);
  p.push(Uint8Array.of(0x89, 0x00), (f) => frames.push(f)); // ping, empty
  const big = concat([Uint8Array.of(0x02, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0), new Uint8Array(65536)]);
  p.push(big, (f) => frames.push(f));
  assert.deepEqual(frames.map((f) => [f.opcode, f.fin, f.length]), [[9, true, 0], [
    2,
    false,
    65536,
  ]]);
  assert.equal(frames[1].payload.length, 10, "capture capped at maxPayload");
});

Deno.test("websocket sampler: rate per second with a burst, negative records all, under 1 still records", () => {
  const s = new FrameSampler(2);
  assert.deepEqual([s.allow(), s.allow(), s.allow()], [true, true, false]);
  const all = new FrameSampler(-1);
  assert.ok(Array.from({ length: 100 }, () => all.allow()).every(Boolean));
  assert.equal(new FrameSampler(0.5).allow(), true, "GOST's burst of 0 would never record");
});
