import type { Logger } from "../log.ts";
import type { Recorder, RecorderStats } from "./recorder.ts";

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
 * A recorder with a bounded queue in front of its delivery. `record` only pushes (or
 * drops the newest and counts it when full), so a slow or dead endpoint costs the proxy
 * nothing; one loop delivers batches in the background. A failed batch is dropped and
 * counted (reason `error`) after the deliverer's own retries. An endpoint that cannot be
 * reached at all loses nothing while the queue has room: its records wait, and delivery is
 * tried again after 100 ms, then twice as long each time up to 2 s. Trying a dead endpoint
 * once per record would cost the proxy a connect per record.
 */
export abstract class QueuedRecorder implements Recorder {
  abstract readonly kind: string;
  #queue: string[] = [];
  #running: Promise<void> | null = null;
  #closed = false;
  #written = 0;
  #dropped: Record<string, number> = {};
  #lastDropLog = 0;
  #lastUnreachableLog = 0;
  #retryMs = RETRY_FIRST_MS;
  /** Ends the wait before the next try at once (set while waiting). */
  #stopWaiting: (() => void) | null = null;

  constructor(
    readonly name: string,
    readonly queueSize: number,
    readonly log: Logger,
    readonly batchSize = 500,
  ) {}

  /**
   * Delivers a batch and returns how many of its records failed; throwing means all did,
   * except EndpointUnreachable, which hands the unsent records back.
   */
  protected abstract deliver(batch: string[]): Promise<number>;

  /** Releases connections and files. */
  protected abstract shutdown(): Promise<void> | void;

  record(data: string | (() => string)): void {
    if (this.#closed) return this.#drop("closed", 1);
    if (this.#queue.length >= this.queueSize) return this.#drop("queue_full", 1);
    this.#queue.push(typeof data === "string" ? data : data());
    this.#running ??= this.#run();
  }

  stats(): RecorderStats {
    return { written: this.#written, dropped: { ...this.#dropped }, queued: this.#queue.length };
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
        const batch = this.#queue.splice(0, this.batchSize);
        try {
          const failed = await this.deliver(batch);
          this.#written += batch.length - failed;
          if (failed > 0) this.#drop("error", failed);
          this.#retryMs = RETRY_FIRST_MS;
        } catch (e) {
          if (!(e instanceof EndpointUnreachable)) {
            this.log.debug("delivery failed", { recorder: this.name, error: e });
            this.#drop("error", batch.length);
            continue;
          }
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

  /** Puts unsent records back at the head of the queue; what no longer fits is dropped. */
  #holdBack(unsent: string[]) {
    this.#queue = unsent.concat(this.#queue);
    const over = this.#queue.length - this.queueSize;
    if (over > 0) {
      this.#queue.length = this.queueSize;
      this.#drop("queue_full", over);
    }
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
    // A recorder waiting to retry tries once more now, then gives up.
    this.#stopWaiting?.();
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
      this.#queue = [];
      this.#drop("shutdown", left);
    }
    await this.shutdown();
  }
}
