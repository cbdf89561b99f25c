import type { Logger } from "../util/log.ts";
import { captureBudget } from "../record/capture_budget.ts";
import type { Recorder, RecorderStats, RecordMaker } from "./recorder.ts";

/**
 * Thrown by a deliverer that could not reach its endpoint (the connection could not be
 * opened), so nothing from `handled` on was sent: those records go back to the queue.
 * `failed` of the handled ones failed.
 */
export class EndpointUnreachable extends Error {
  constructor(
    readonly handled: number,
    override readonly cause: unknown,
    readonly failed = 0,
  ) {
    super(`recorder endpoint unreachable: ${cause instanceof Error ? cause.message : cause}`);
    this.name = "EndpointUnreachable";
  }
}

/** First wait before trying an unreachable endpoint again; doubles up to the maximum. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;
/**
 * A batch ends at this many bytes of records (or at `batchSize` records): a deliverer copies
 * its batch once more (a POST body, a message to the store's worker), so a batch of
 * records with bodies must not be a second queue's worth.
 */
const BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Room a queue has by default beyond the capture budget: for records kept without their
 * bodies once the budget is spent (a queue of records with bodies is as big as the budget).
 */
const LEAN_ROOM = 16 * 1024 * 1024;

const lengthOf = (records: string[]) => records.reduce((n, r) => n + r.length, 0);

/**
 * A recorder with a bounded queue in front of its delivery. `record` only pushes (or
 * drops the newest and counts it when full), so a slow or dead endpoint costs the proxy
 * nothing; one loop delivers batches in the background. A failed batch is dropped and
 * counted (reason `error`) after the deliverer's own retries. An endpoint that cannot be
 * reached at all loses nothing while the queue has room: its records wait, and delivery is
 * tried again after 100 ms, then twice as long each time up to 2 s. Trying a dead endpoint
 * once per record would cost the proxy a connect per record.
 *
 * The queue is bounded in bytes too (`maxBytes`, by default the capture budget and 16 MiB
 * for records without bodies): a record past either bound is dropped (reason `queue_full`).
 * Each record's JSON counts against the process's capture budget from when it is queued
 * until it is delivered or dropped; a record the budget cannot hold is made again without
 * its bodies (`RecordMaker`), so a slow endpoint costs bodies before it costs records.
 */
export abstract class QueuedRecorder implements Recorder {
  abstract readonly kind: string;
  #queue: string[] = [];
  /** The length of the records in `#queue` (JSON text: mostly ASCII, a byte a character). */
  #queuedBytes = 0;
  #running: Promise<void> | null = null;
  #closed = false;
  #written = 0;
  #dropped: Record<string, number> = {};
  #lastDropLog = 0;
  #lastUnreachableLog = 0;
  #retryMs = RETRY_FIRST_MS;
  /** Ends the wait before the next try at once (set while waiting). */
  #stopWaiting: (() => void) | null = null;
  /** Ends the wait for a fuller batch (set while lingering). */
  #stopLingering: (() => void) | null = null;
  /**
   * How long a batch short of `batchSize` waits for more records before it is delivered (0:
   * not at all). A deliverer whose every batch has a fixed cost (the store's transaction,
   * which rewrites the index pages it touches) pays it per record when batches are small,
   * and they are small exactly when it keeps up: it then takes whatever arrived while it
   * worked on the last one.
   */
  protected readonly lingerMs: number = 0;

  constructor(
    readonly name: string,
    readonly queueSize: number,
    readonly log: Logger,
    readonly batchSize = 500,
    /** Bytes of records the queue holds at most; by default the budget and `LEAN_ROOM`. */
    readonly maxBytes?: number,
  ) {}

  /**
   * Delivers a batch and returns how many of its records failed; throwing means all did,
   * except EndpointUnreachable, which hands the unsent records back.
   */
  protected abstract deliver(batch: string[]): Promise<number>;

  /** Releases connections and files. */
  protected abstract shutdown(): Promise<void> | void;

  record(data: string | RecordMaker): void {
    if (this.#closed) return this.#drop("closed", 1);
    if (this.#queue.length >= this.queueSize) return this.#drop("queue_full", 1);
    // Its bodies were charged while they were captured: that charge is the record's now.
    const credit = typeof data === "string" ? 0 : captureBudget.claimPending();
    let text = typeof data === "string" ? data : data();
    const more = text.length - credit;
    if (more <= 0) captureBudget.release(-more);
    else if (credit > 0) captureBudget.force(more); // the rest of a record with its bodies
    else if (!captureBudget.tryReserve(more)) {
      // Without its bodies (here: WebSocket payloads) the record is small, and made: it is
      // kept even past the budget (the byte bound below still holds).
      if (typeof data !== "string") text = data(true);
      captureBudget.force(text.length);
    }
    if (this.#queuedBytes + text.length > this.#byteBound) {
      captureBudget.release(text.length);
      return this.#drop("queue_full", 1);
    }
    this.#queue.push(text);
    this.#queuedBytes += text.length;
    if (this.#queue.length >= this.batchSize || this.#queuedBytes >= BATCH_BYTES) {
      this.#stopLingering?.();
    }
    this.#running ??= this.#run();
  }

  stats(): RecorderStats {
    return { written: this.#written, dropped: { ...this.#dropped }, queued: this.#queue.length };
  }

  /** Bytes of the records waiting (not those being delivered). */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Whether `count` more records of `bytes` in all would be queued now, none dropped: the
   * collector takes a POST whole or answers 503, so that a resent POST is stored once.
   */
  hasRoom(count: number, bytes: number): boolean {
    return !this.#closed && this.#queue.length + count <= this.queueSize &&
      this.#queuedBytes + bytes <= this.#byteBound;
  }

  get #byteBound(): number {
    return this.maxBytes ?? captureBudget.limit + LEAN_ROOM;
  }

  /** The next batch: up to `batchSize` records and `BATCH_BYTES` bytes, one at least. */
  #takeBatch(): string[] {
    let n = 0, bytes = 0;
    while (n < this.#queue.length && n < this.batchSize) {
      const next = this.#queue[n].length;
      if (n > 0 && bytes + next > BATCH_BYTES) break;
      bytes += next;
      n++;
    }
    this.#queuedBytes -= bytes;
    return this.#queue.splice(0, n);
  }

  /** Records that left the queue and memory (delivered or dropped) give their budget back. */
  #done(records: string[]): void {
    captureBudget.release(lengthOf(records));
  }

  #drop(reason: string, n: number) {
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + n;
    const now = Date.now();
    // One warning per 10 s per recorder: a dead endpoint must not flood the log either.
    if (now - this.#lastDropLog > 10_000) {
      this.#lastDropLog = now;
      this.log.warn("records dropped", { recorder: this.name, reason, dropped: this.#dropped });
    }
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        if (this.#shortBatch()) await this.#linger();
        const batch = this.#takeBatch();
        try {
          const failed = await this.deliver(batch);
          this.#done(batch);
          this.#written += batch.length - failed;
          if (failed > 0) this.#drop("error", failed);
          this.#retryMs = RETRY_FIRST_MS;
        } catch (e) {
          if (!(e instanceof EndpointUnreachable)) {
            this.#done(batch);
            this.log.debug("delivery failed", { recorder: this.name, error: e });
            this.#drop("error", batch.length);
            continue;
          }
          this.#done(batch.slice(0, e.handled));
          this.#written += e.handled - e.failed;
          if (e.failed > 0) this.#drop("error", e.failed);
          this.#holdBack(batch.slice(e.handled));
          if (this.#closed) break;
          const now = Date.now();
          if (now - this.#lastUnreachableLog > 10_000) {
            this.#lastUnreachableLog = now;
            this.log.warn("recorder endpoint unreachable; records wait in the queue", {
              recorder: this.name,
              error: e.cause,
              queued: this.#queue.length,
            });
          }
          await this.#waitBeforeRetry();
        }
      }
    } finally {
      this.#running = null;
    }
  }

  /**
   * Puts unsent records back at the head of the queue; what no longer fits (in records or
   * in bytes) is dropped, newest first.
   */
  #holdBack(unsent: string[]) {
    this.#queue = unsent.concat(this.#queue);
    this.#queuedBytes += lengthOf(unsent);
    let keep = Math.min(this.#queue.length, this.queueSize);
    let bytes = this.#queuedBytes - lengthOf(this.#queue.slice(keep));
    while (keep > 0 && bytes > this.#byteBound) bytes -= this.#queue[--keep].length;
    const over = this.#queue.length - keep;
    if (over > 0) {
      this.#done(this.#queue.splice(keep));
      this.#queuedBytes = bytes;
      this.#drop("queue_full", over);
    }
  }

  /** Whether the next batch would be short and may wait for more (`lingerMs`). */
  #shortBatch(): boolean {
    return this.lingerMs > 0 && !this.#closed && this.#queue.length < this.batchSize &&
      this.#queuedBytes < BATCH_BYTES;
  }

  /** Waits up to `lingerMs` for a full batch; a full batch or `close` ends the wait. */
  async #linger(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#stopLingering = resolve;
      timer = setTimeout(resolve, this.lingerMs);
    });
    clearTimeout(timer);
    this.#stopLingering = null;
  }

  async #waitBeforeRetry(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#stopWaiting = resolve;
      timer = setTimeout(resolve, this.#retryMs);
    });
    clearTimeout(timer);
    this.#stopWaiting = null;
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }

  /** Waits for queued records to go out (up to the deadline), then releases resources. */
  async close(deadlineMs = 5000): Promise<void> {
    this.#closed = true;
    // A recorder waiting to retry tries once more now, then gives up; one waiting for a
    // fuller batch delivers what it has.
    this.#stopWaiting?.();
    this.#stopLingering?.();
    if (this.#running) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#running,
        new Promise((r) => timer = setTimeout(r, deadlineMs)),
      ]);
      clearTimeout(timer);
    }
    const left = this.#queue.length;
    if (left > 0) {
      this.#done(this.#queue);
      this.#queue = [];
      this.#queuedBytes = 0;
      this.#drop("shutdown", left);
    }
    await this.shutdown();
  }
}
