import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { BodyCapture } from "../../src/record/body_capture.ts";
import { captureBudget } from "../../src/record/capture_budget.ts";

/** A deterministic byte source (xorshift), so that a failure can be run again. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Feeds `body` in chunks of the given sizes the way a reader hands them out: each a view of
 * one buffer that the next read overwrites.
 */
function capture(body: Uint8Array, sizes: number[], max = 1 << 20): BodyCapture {
  const c = new BodyCapture(true, max);
  const readBuffer = new Uint8Array(64 * 1024);
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const n = Math.min(sizes[i % sizes.length], body.length - at);
    readBuffer.set(body.subarray(at, at + n));
    c.add(readBuffer.subarray(0, n));
    readBuffer.fill(0xee); // the next read reuses the buffer
    at += n;
  }
  return c;
}

Deno.test("body capture: base64 of the bytes kept, however the body was chunked", () => {
  const before = captureBudget.used;
  const chunkings = [
    [1],
    [2],
    [3],
    [1, 2],
    [2, 2, 5],
    [62],
    [63],
    [64],
    [61, 1, 1, 1],
    [100, 1, 200, 2],
    [1024],
    [4096, 7],
    [16 * 1024],
  ];
  for (const length of [1, 2, 3, 4, 62, 63, 64, 65, 127, 1024, 1025, 1026, 20_000]) {
    const body = bytes(length, length);
    const expected = Buffer.from(body).toString("base64");
    for (const sizes of chunkings) {
      const c = capture(body, sizes);
      assert.equal(c.base64(), expected, `${length} bytes in chunks of ${sizes}`);
      assert.equal(c.total, length);
      assert.equal(c.truncated, false);
      captureBudget.releasePending();
    }
  }
  assert.equal(captureBudget.used, before);
});

Deno.test("body capture: `max` bytes are kept and the rest counted, whatever the chunks", () => {
  const body = bytes(5000, 7);
  for (const max of [1, 2, 3, 64, 1000, 4999]) {
    for (const sizes of [[1], [7], [63], [100, 1], [5000]]) {
      const c = capture(body, sizes, max);
      assert.equal(c.base64(), Buffer.from(body.subarray(0, max)).toString("base64"));
      assert.equal(c.total, 5000);
      assert.equal(c.truncated, true);
      captureBudget.releasePending();
    }
  }
});

Deno.test("body capture: nothing kept is null; the text is made once", () => {
  const off = new BodyCapture(false, 1024);
  off.add(bytes(10, 1));
  assert.equal(off.base64(), null);
  assert.equal(off.total, 10);
  const empty = new BodyCapture(true, 1024);
  empty.add(new Uint8Array(0));
  assert.equal(empty.base64(), null);
  const once = new BodyCapture(true, 1024);
  once.add(new TextEncoder().encode("ab"));
  assert.equal(once.base64(), "YWI=");
  once.add(new TextEncoder().encode("c")); // after the record took it: counted only
  assert.equal(once.base64(), "YWI=");
  assert.equal(once.total, 3);
  captureBudget.releasePending();
});
