import assert from "node:assert/strict";
import { jsonArrayBatches } from "../../src/recorder/json_array_batches.ts";

const records = (n: number, size = 10) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ n: i, pad: "x".repeat(size) }));

Deno.test("jsonArrayBatches: at most perBody records per body, in order, each once", () => {
  const recs = records(10);
  const { bodies, counts } = jsonArrayBatches(recs, 4);
  assert.deepEqual(counts, [4, 4, 2]);
  assert.deepEqual(bodies.flatMap((b) => JSON.parse(b)), recs.map((r) => JSON.parse(r)));
});

Deno.test("jsonArrayBatches: a body stops before maxChars; a record longer than that goes alone", () => {
  const small = records(3, 10); // 27 characters each
  const big = JSON.stringify({ big: "y".repeat(200) });
  const recs = [small[0], small[1], big, small[2]];
  const { bodies, counts } = jsonArrayBatches(recs, 100, 64);
  // [a,b] is 2 + 27 + 1 + 27 = 57 characters; adding the big one would pass 64.
  assert.deepEqual(counts, [2, 1, 1]);
  assert.ok(bodies[0].length <= 64 && bodies[2].length <= 64);
  assert.equal(bodies[1], `[${big}]`);
  assert.deepEqual(bodies.flatMap((b) => JSON.parse(b)), recs.map((r) => JSON.parse(r)));
});

Deno.test("jsonArrayBatches: no records, no bodies", () => {
  assert.deepEqual(jsonArrayBatches([], 10), { bodies: [], counts: [] });
});
