import assert from "node:assert/strict";
import { Logger } from "../../src/log.ts";
import { QueuedRecorder } from "../../src/recorder/queued_recorder.ts";

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
