import type { Logger } from "../util/log.ts";
import type { PgRecordStore } from "../store/pg_store.ts";
import { RECORD_SLACK } from "../store/record_store.ts";
import { QueuedRecorder } from "./queued_recorder.ts";

/**
 * Delivers records into PostgreSQL in batches, with both retention limits applied at most once
 * a minute and `maxRecords` also each time another 1% of it has been stored since: a store
 * under load would otherwise pass its cap by a minute's worth of records.
 */
export class PgRecorder extends QueuedRecorder {
  readonly kind = "postgres";
  #lastRetention = 0;
  /** Records stored since retention last ran. */
  #sinceRetention = 0;

  constructor(readonly store: PgRecordStore, queueSize: number, log: Logger) {
    super("postgres", queueSize, log, 500);
  }

  protected async deliver(batch: string[]): Promise<number> {
    const stored = await this.store.insertBatch(batch);
    this.#sinceRetention += stored;
    const now = Date.now(), max = this.store.retention.maxRecords;
    if (
      now - this.#lastRetention > 60_000 ||
      (max > 0 && this.#sinceRetention > Math.max(1, Math.floor(max * RECORD_SLACK)))
    ) {
      this.#lastRetention = now;
      this.#sinceRetention = 0;
      await this.store.enforceRetention(now);
    }
    return batch.length - stored;
  }

  protected async shutdown(): Promise<void> {
    await this.store.close();
  }
}
