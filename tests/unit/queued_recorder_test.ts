import assert from "node:assert/strict";
import { Logger } from "../../src/util/log.ts";
import { QueuedRecorder } from "../../src/recorder/queued_recorder.ts";
import { captureBudget } from "../../src/record/capture_budget.ts";
import { BodyCapture } from "../../src/record/body_capture.ts";

/** Delivery that hangs until released, as with an endpoint that does not answer. */
class HangingRecorder extends QueuedRecorder {
  readonly kind = "test";
  readonly delivered: string[][] = [];
  #release: (() => void) | null = null;
  #hanging = true;

  protected deliver(batch: string[]): Promise<number> {
    this.delivered.push(batch);
    if (!this.#hanging) return Promise.resolve(0);
    return new Promise((resolve) => this.#release = () => resolve(0));
  }

  release() {
    this.#hanging = false;
    this.#release?.();
  }

  protected shutdown(): void {}
}

Deno.test("a record made by a function is made only when the queue keeps it", async () => {
  const recorder = new HangingRecorder("hang", 2, new Logger("test"));
  const made: number[] = [];
  for (let i = 0; i < 6; i++) {
    recorder.record(() => {
      made.push(i);
      return `{"n":${i}}`;
    });
  }
  // The first went out at once (its delivery hangs), two wait, three were dropped unmade.
  assert.deepEqual(made, [0, 1, 2]);
  assert.deepEqual(recorder.delivered, [['{"n":0}']]);
  assert.deepEqual(recorder.stats(), { written: 0, dropped: { queue_full: 3 }, queued: 2 });
  recorder.record('{"n":"plain"}'); // a string is dropped and counted the same way
  assert.deepEqual(recorder.stats().dropped, { queue_full: 4 });
  recorder.release();
  await recorder.close(1000);
  assert.deepEqual(recorder.delivered.slice(1), [['{"n":1}', '{"n":2}']]);
  assert.deepEqual(recorder.stats(), { written: 3, dropped: { queue_full: 4 }, queued: 0 });
});

Deno.test("a queue charges the capture budget until delivery and holds at most maxBytes", async () => {
  const before = captureBudget.used;
  const recorder = new HangingRecorder("bytes", 100, new Logger("test"), 500, 25);
  recorder.record("a".repeat(10)); // goes out at once; its delivery hangs
  recorder.record("b".repeat(10));
  recorder.record("c".repeat(10));
  recorder.record("d".repeat(10)); // 30 bytes waiting would pass maxBytes: dropped
  assert.deepEqual(recorder.stats(), { written: 0, dropped: { queue_full: 1 }, queued: 2 });
  assert.equal(recorder.queuedBytes, 20);
  // The one being delivered counts until it is delivered.
  assert.equal(captureBudget.used - before, 30);
  recorder.release();
  await recorder.close(1000);
  assert.equal(recorder.stats().written, 3);
  assert.equal(captureBudget.used, before);
});

Deno.test("a record the budget cannot hold is made again without its bodies", async () => {
  const saved = captureBudget.limit;
  captureBudget.limit = captureBudget.used + 100;
  const recorder = new HangingRecorder("lean", 10, new Logger("test"));
  try {
    const calls: (boolean | undefined)[] = [];
    recorder.record((withoutBodies) => {
      calls.push(withoutBodies);
      return withoutBodies ? "{}" : `{"body":"${"x".repeat(200)}"}`;
    });
    assert.deepEqual(calls, [undefined, true]);
    assert.deepEqual(recorder.delivered, [["{}"]]);
  } finally {
    recorder.release();
    await recorder.close(1000);
    captureBudget.limit = saved;
  }
});

Deno.test("body capture keeps what the budget allows, marks the cut, hands the charge on", async () => {
  const saved = captureBudget.limit;
  const before = captureBudget.used;
  // Room for 8 base64 characters: 6 bytes.
  captureBudget.limit = before + 8;
  try {
    const cut = new BodyCapture(true, 1024);
    cut.add(new TextEncoder().encode("0123456789"));
    cut.add(new TextEncoder().encode("more")); // nothing more is kept once cut
    assert.equal(captureBudget.used - before, 8);
    const msg = cut.fill({ contentLength: 0, header: null, body: null });
    assert.deepEqual(msg, {
      contentLength: 14,
      header: null,
      body: btoa("012345"),
      bodyTruncated: "capture-budget",
    });
    // The charge waits for the queue that takes the record; unclaimed, it is freed.
    assert.equal(captureBudget.pending, 8);
    captureBudget.releasePending();
    assert.equal(captureBudget.used, before);

    captureBudget.limit = before + 1024;
    const whole = new BodyCapture(true, 1024);
    whole.add(new TextEncoder().encode("hello"));
    assert.deepEqual(whole.fill({ contentLength: 0, header: null, body: null }), {
      contentLength: 5,
      header: null,
      body: btoa("hello"),
    });
    // A queue that takes the record takes its charge over and frees it on delivery.
    const recorder = new HangingRecorder("claim", 10, new Logger("test"));
    recorder.record(() => `{"b":"${btoa("hello")}"}`);
    assert.equal(captureBudget.pending, 0);
    assert.equal(captureBudget.used - before, `{"b":"${btoa("hello")}"}`.length);
    recorder.release();
    await recorder.close(1000);
    assert.equal(captureBudget.used, before);
  } finally {
    captureBudget.limit = saved;
  }
});

Deno.test("a capture whose record is never made gives its budget back when collected", async () => {
  // Run apart, with gc exposed: the finalizer runs after a collection.
  const script = `
    import { BodyCapture } from "${new URL("../../src/record/body_capture.ts", import.meta.url)}";
    import { captureBudget } from "${new URL(
    "../../src/record/capture_budget.ts",
    import.meta.url,
  )}";
    (() => new BodyCapture(true, 1 << 20).add(new Uint8Array(3000)))();
    const held = captureBudget.used;
    for (let i = 0; i < 50 && captureBudget.used > 0; i++) {
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    console.log(held, captureBudget.used);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(out.stderr), "");
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "4000 0");
});

/** Delivers at once, but lets a short batch wait (long: nothing here waits it out). */
class LingeringRecorder extends QueuedRecorder {
  readonly kind = "test";
  readonly delivered: string[][] = [];
  protected override readonly lingerMs = 60_000;

  protected deliver(batch: string[]): Promise<number> {
    this.delivered.push(batch);
    return Promise.resolve(0);
  }

  protected shutdown(): void {}
}

const aTurn = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("a lingering recorder waits for a full batch, delivers one at once, and all at close", async () => {
  const recorder = new LingeringRecorder("linger", 100, new Logger("test"), 4);
  recorder.record("1");
  await aTurn();
  recorder.record("2");
  recorder.record("3");
  await aTurn();
  assert.deepEqual(recorder.delivered, [], "a short batch waits");
  recorder.record("4"); // the batch is full: delivered without waiting
  await aTurn();
  assert.deepEqual(recorder.delivered, [["1", "2", "3", "4"]]);
  recorder.record("5");
  recorder.record("6");
  await aTurn();
  assert.equal(recorder.delivered.length, 1);
  await recorder.close(1000); // closing ends the wait
  assert.deepEqual(recorder.delivered, [["1", "2", "3", "4"], ["5", "6"]]);
  assert.deepEqual(recorder.stats(), { written: 6, dropped: {}, queued: 0 });
});
