import type { Logger } from "../util/log.ts";
import type { PgRecordStore } from "../store/pg_store.ts";
import { QueuedRecorder } from "./queued_recorder.ts";

/** Delivers records into PostgreSQL in batches, with retention at most once a minute. */
export class PgRecorder extends QueuedRecorder {
  readonly kind = "postgres";
  #lastRetention = 0;

  constructor(readonly store: PgRecordStore, queueSize: number, log: Logger) {
    super("postgres", queueSize, log, 500);
  }

  protected async deliver(batch: string[]): Promise<number> {
    const stored = await this.store.insertBatch(batch);
    const now = Date.now();
    if (now - this.#lastRetention > 60_000) {
      this.#lastRetention = now;
      await this.store.enforceRetention(now);
    }
    return batch.length - stored;
  }

  protected async shutdown(): Promise<void> {
    await this.store.close();
  }
}
