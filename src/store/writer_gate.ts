/**
 * The gate a store's writer and indexer share (two Int32s in a SharedArrayBuffer): how many
 * of the writer's transactions are waiting or running, and whether the indexer holds the
 * write lock. SQLite's busy wait is not fair, and a niced indexer holds a lock many times as
 * long as it computes: the indexer does not begin while the writer waits and gives its
 * transaction up when the writer comes; the writer waits for the indexer's mark to go down
 * here, not in SQLite's sleeps, which grow to 100 ms and overshoot the release. Without a
 * buffer (a store with one connection) every call is free and nobody waits.
 */

/** The gate's size in bytes. */
export const WRITER_GATE_BYTES = 8;

const WRITERS = 0, INDEXING = 1;

/**
 * How long either side waits for the other at most (a worker that died leaves its mark up;
 * the writer then falls back on SQLite's busy wait).
 */
const WAIT_MS = 1000;

export class WriterGate {
  readonly #slots: Int32Array | null;

  constructor(buffer?: SharedArrayBuffer) {
    this.#slots = buffer ? new Int32Array(buffer) : null;
  }

  /** Runs a transaction of the writer's: marked as waiting, once the indexer has let go. */
  asWriter<T>(run: () => T): T {
    const slots = this.#slots;
    if (!slots) return run();
    Atomics.add(slots, WRITERS, 1);
    try {
      this.#waitForZero(INDEXING);
      return run();
    } finally {
      Atomics.sub(slots, WRITERS, 1);
      Atomics.notify(slots, WRITERS);
    }
  }

  /** Whether the writer is waiting or writing (the indexer then steps aside). */
  get writerWaiting(): boolean {
    return this.#slots !== null && Atomics.load(this.#slots, WRITERS) > 0;
  }

  /** The indexer, before it takes the write lock: lets a waiting writer go first. */
  waitForWriter(): void {
    this.#waitForZero(WRITERS);
  }

  /** The indexer holds the write lock (after its BEGIN) or no longer does (after its end). */
  indexerHolds(held: boolean): void {
    if (!this.#slots) return;
    Atomics.store(this.#slots, INDEXING, held ? 1 : 0);
    if (!held) Atomics.notify(this.#slots, INDEXING);
  }

  /** Waits, WAIT_MS at most, until `slot` is 0. */
  #waitForZero(slot: number): void {
    const slots = this.#slots;
    if (!slots) return;
    const until = performance.now() + WAIT_MS;
    for (let v = Atomics.load(slots, slot); v !== 0; v = Atomics.load(slots, slot)) {
      const left = until - performance.now();
      if (left <= 0) return;
      Atomics.wait(slots, slot, v, left);
    }
  }
}
