import type { Logger } from "../log.ts";
import type { Recorder, RecorderStats } from "./recorder.ts";

/**
 * A recorder with a bounded queue in front of its delivery. `record` only pushes (or
 * drops the newest and counts it when full), so a slow or dead endpoint costs the proxy
 * nothing; one loop delivers batches in the background. A failed batch is dropped and
 * counted (reason `error`) after the deliverer's own retries.
 */
export abstract class QueuedRecorder implements Recorder {
  abstract readonly kind: string;
  #queue: string[] = [];
  #running: Promise<void> | null = null;
  #closed = false;
  #written = 0;
  #dropped: Record<string, number> = {};
  #lastDropLog = 0;

  constructor(
    readonly name: string,
    readonly queueSize: number,
    readonly log: Logger,
    readonly batchSize = 500,
  ) {}

  /**
   * Delivers a batch and returns how many of its records failed; throwing means all did.
   * Failed records are counted as dropped (reason `error`).
   */
  protected abstract deliver(batch: string[]): Promise<number>;

  /** Releases connections and files. */
  protected abstract shutdown(): Promise<void> | void;

  record(data: string): void {
    if (this.#closed) return this.#drop("closed", 1);
    if (this.#queue.length >= this.queueSize) return this.#drop("queue_full", 1);
    this.#queue.push(data);
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
        } catch (e) {
          this.log.debug("delivery failed", { recorder: this.name, error: e });
          this.#drop("error", batch.length);
        }
      }
    } finally {
      this.#running = null;
    }
  }

  /** Waits for queued records to go out (up to the deadline), then releases resources. */
  async close(deadlineMs = 5000): Promise<void> {
    this.#closed = true;
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
