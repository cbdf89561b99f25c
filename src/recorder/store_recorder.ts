import type { Logger } from "../log.ts";
import { RecordStore, type RetentionOptions } from "../store/record_store.ts";
import { QueuedRecorder } from "./queued_recorder.ts";

/**
 * The `store` recorder: records into snoop's embedded SQLite store, in batches of up to
 * 500 (one transaction each), with retention applied at most once a minute.
 */
export class StoreRecorder extends QueuedRecorder {
  readonly kind = "store";
  readonly store: RecordStore;
  #lastRetention = 0;

  constructor(
    name: string,
    queueSize: number,
    path: string,
    retention: RetentionOptions,
    log: Logger,
  ) {
    super(name, queueSize, log, 500);
    this.store = new RecordStore(path, retention);
  }

  protected deliver(batch: string[]): Promise<number> {
    const stored = this.store.insertBatch(batch);
    const now = Date.now();
    if (now - this.#lastRetention > 60_000) {
      this.#lastRetention = now;
      this.store.enforceRetention(now);
    }
    // Yield so a long queue is written in slices, between which connections get a turn.
    return new Promise((resolve) => setTimeout(() => resolve(batch.length - stored), 0));
  }

  protected shutdown(): void {
    this.store.close();
  }
}
