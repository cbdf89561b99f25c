import type { Logger } from "../log.ts";
import { RecordStore, type RetentionOptions } from "../store/record_store.ts";
import { StoreWriter } from "../store/store_writer.ts";
import { QueuedRecorder } from "./queued_recorder.ts";

/** Retention is applied at most this often. */
const RETENTION_EVERY_MS = 60_000;
/**
 * A writer with nothing to write for this long is ended: a worker's heap and its SQLite page
 * cache are ~30 MiB that would otherwise stay after the load (RSS 134 against 102 MiB 20 s
 * after a burst). The next batch starts a new one.
 */
const WRITER_IDLE_MS = 10_000;

/**
 * The `store` recorder: records into snoop's embedded SQLite store, in batches of up to
 * 500 (one transaction each), with retention applied at most once a minute. A file-backed
 * store is written from a worker (`StoreWriter`, started with the first batch and ended after
 * 10 s without one) so that the inserts never hold up proxied traffic; `store` here answers
 * queries and tells listeners.
 * `:memory:` is private to one connection, so it is written here.
 */
export class StoreRecorder extends QueuedRecorder {
  readonly kind = "store";
  readonly store: RecordStore;
  #writer: StoreWriter | null = null;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lastRetention = 0;

  constructor(
    name: string,
    queueSize: number,
    readonly path: string,
    readonly retention: RetentionOptions,
    log: Logger,
    /** How long a writer with nothing to write lives on. */
    readonly writerIdleMs = WRITER_IDLE_MS,
  ) {
    super(name, queueSize, log, 500);
    // Opened here too, so that a store that cannot be opened fails at startup.
    this.store = new RecordStore(path, retention);
  }

  protected async deliver(batch: string[]): Promise<number> {
    const now = Date.now();
    const retentionNow = now - this.#lastRetention > RETENTION_EVERY_MS ? now : 0;
    if (retentionNow) this.#lastRetention = now;
    if (this.path === ":memory:") {
      const stored = this.store.insertBatch(batch);
      if (retentionNow) this.store.enforceRetention(retentionNow);
      // Yield so a long queue is written in slices, between which connections get a turn.
      await new Promise((resolve) => setTimeout(resolve, 0));
      return batch.length - stored;
    }
    clearTimeout(this.#idleTimer);
    try {
      if (this.#writer?.failed) await this.#retireWriter(); // a new worker for this batch
      this.#writer ??= new StoreWriter(this.path, this.retention);
      const { summaries } = await this.#writer.write(batch, retentionNow);
      return batch.length - this.store.announce(summaries);
    } finally {
      const timer = setTimeout(() => this.#retireWriter(), this.writerIdleMs);
      Deno.unrefTimer(timer); // an idle writer does not keep the process up
      this.#idleTimer = timer;
    }
  }

  /** Whether a writer's worker is running now. */
  get writing(): boolean {
    return this.#writer !== null;
  }

  async #retireWriter(): Promise<void> {
    const writer = this.#writer;
    this.#writer = null;
    await writer?.close().catch((error) =>
      this.log.debug("store writer did not close cleanly", { recorder: this.name, error })
    );
  }

  protected async shutdown(): Promise<void> {
    clearTimeout(this.#idleTimer);
    await this.#retireWriter();
    this.store.close();
  }
}
