import assert from "node:assert/strict";
import { writeAll } from "../../src/net/stream.ts";

/** A writer that takes at most `max` bytes per write, as a socket with a full buffer does. */
function shortWriter(max: number) {
  const chunks: number[][] = [];
  return {
    chunks,
    write(p: Uint8Array): Promise<number> {
      const n = Math.min(max, p.length);
      chunks.push([...p.subarray(0, n)]);
      return Promise.resolve(n);
    },
  };
}

Deno.test("writeAll: short writes are continued until every byte is written, in order", async () => {
  const w = shortWriter(3);
  await writeAll(w, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  assert.deepEqual(w.chunks, [[1, 2, 3], [4, 5, 6], [7, 8]]);
});

Deno.test("writeAll: one write for what fits; none for nothing; a failed write rejects", async () => {
  const w = shortWriter(100);
  await writeAll(w, new Uint8Array([9, 8, 7]));
  await writeAll(w, new Uint8Array(0));
  assert.deepEqual(w.chunks, [[9, 8, 7]]);
  const broken = { write: () => Promise.reject(new Error("broken pipe")) };
  await assert.rejects(writeAll(broken, new Uint8Array([1])), /broken pipe/);
});
