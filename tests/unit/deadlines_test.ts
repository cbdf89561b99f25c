import assert from "node:assert/strict";
import { deadline } from "../../src/util/deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("deadlines fire once each, shortest first, across durations", async () => {
  const fired: string[] = [];
  deadline(60, () => fired.push("60a"));
  deadline(20, () => fired.push("20"));
  deadline(60, () => fired.push("60b"));
  deadline(40, () => fired.push("40"));
  await sleep(120);
  assert.deepEqual(fired, ["20", "40", "60a", "60b"]);
});

Deno.test("a cancelled deadline never fires, and cancelling twice or after firing is harmless", async () => {
  const fired: string[] = [];
  const a = deadline(20, () => fired.push("a"));
  const b = deadline(20, () => fired.push("b"));
  a.cancel();
  a.cancel();
  await sleep(60);
  b.cancel();
  assert.deepEqual(fired, ["b"]);
});

Deno.test("cancelling the first, a middle and the last deadline of a lane leaves the rest in order", async () => {
  const fired: string[] = [];
  const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => deadline(20, () => fired.push(n)));
  b.cancel();
  d.cancel();
  a.cancel();
  const e = deadline(20, () => fired.push("e"));
  await sleep(80);
  assert.deepEqual(fired, ["c", "e"]);
  c.cancel();
  e.cancel();
});

Deno.test("when every deadline is cancelled no timer is left (the test sanitizer checks)", () => {
  const ds = Array.from({ length: 5 }, (_, i) => deadline(1000 + i, () => assert.fail("fired")));
  for (const d of ds) d.cancel();
});

Deno.test("a live deadline behind many cancelled ones of its duration still fires on time", async () => {
  let fired = 0;
  const keep = deadline(50, () => fired++);
  // Cancelled entries ahead of it in its lane must neither pile up nor delay it.
  for (let i = 0; i < 10_000; i++) deadline(50, () => assert.fail("cancelled")).cancel();
  const started = Date.now();
  while (fired === 0 && Date.now() - started < 1000) await sleep(10);
  assert.equal(fired, 1);
  keep.cancel();
});

Deno.test("a callback may set and cancel deadlines; one that throws does not stop the others", async () => {
  const fired: string[] = [];
  const errors: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    errors.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    const later = deadline(30, () => fired.push("later"));
    deadline(10, () => {
      fired.push("first");
      later.cancel();
      deadline(10, () => fired.push("set by first"));
      throw new Error("boom");
    });
    deadline(10, () => fired.push("second"));
    await sleep(80);
    assert.deepEqual(fired, ["first", "second", "set by first"]);
    assert.equal((errors[0] as Error).message, "boom");
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});
