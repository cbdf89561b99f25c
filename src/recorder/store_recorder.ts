import type { Logger } from "../util/log.ts";
import { RecordStore, type RetentionOptions, type StoreOptions } from "../store/record_store.ts";
import { StoreWorker, WorkerQueries } from "../store/store_worker.ts";
import type { RecordQueries } from "../store/summary.ts";
import { QueuedRecorder } from "./queued_recorder.ts";

/** Retention is applied at most this often. */
const RETENTION_EVERY_MS = 60_000;

/**
 * A batch short of 500 records waits this long for more: a store transaction costs about as
 * much for 45 records as for 500 (`deno task bench store` measures per-record costs by batch
 * size), and the web UI's list can be this much behind.
 */
const STORE_LINGER_MS = 50;

/**
 * The `store` recorder: records into snoop's embedded SQLite store, in batches of up to
 * 500 (one transaction each), trimmed to `maxRecords` as it passes it and with both
 * retention limits applied at most once a minute. A file-backed
 * store is written, and queried, by a worker of its own (`StoreWorker`) so that neither
 * holds up proxied traffic; `store` here tells listeners what it stored. `:memory:` is
 * private to one connection, so it is written and queried here.
 */
export class StoreRecorder extends QueuedRecorder {
  readonly kind = "store";
  /** On this thread: listeners, counts, and for `:memory:` everything. */
  readonly store: RecordStore;
  /** What the web UI and the API ask. */
  readonly queries: RecordQueries;
  readonly #worker: StoreWorker | null;
  #lastRetention = 0;
  protected override readonly lingerMs = STORE_LINGER_MS;

  constructor(
    name: string,
    queueSize: number,
    path: string,
    retention: RetentionOptions,
    log: Logger,
    /** How long the worker lives on with nothing to do. */
    workerIdleMs?: number,
    /** `indexBodies` (default true): decoded body text in the word index. */
    options: StoreOptions = {},
  ) {
    super(name, queueSize, log, 500);
    // Opened here too, so that a store that cannot be opened fails at startup.
    // `:memory:` is written here, on the proxy's thread: bodies are not decoded into the index.
    this.store = new RecordStore(path, retention, { indexBodies: path !== ":memory:" });
    this.#worker = path === ":memory:" ? null : new StoreWorker(
      path,
      retention,
      workerIdleMs,
      options,
      (warning) => log.warn("store: " + warning, { recorder: name }),
    );
    this.queries = this.#worker ? new WorkerQueries(this.#worker, this.store) : this.store;
  }

  /** Whether the store's worker is running now. */
  get working(): boolean {
    return this.#worker?.running ?? false;
  }

  protected async deliver(batch: string[]): Promise<number> {
    const now = Date.now();
    const retentionNow = now - this.#lastRetention > RETENTION_EVERY_MS ? now : 0;
    if (retentionNow) this.#lastRetention = now;
    if (!this.#worker) {
      const stored = this.store.insertBatch(batch);
      if (retentionNow) this.store.enforceRetention(retentionNow);
      else if (this.store.overRecordLimit()) this.store.enforceRecordLimit();
      // Yield so a long queue is written in slices, between which connections get a turn.
      await new Promise((resolve) => setTimeout(resolve, 0));
      return batch.length - stored;
    }
    const stored = await this.#worker.write(batch, retentionNow, this.store.listened);
    return batch.length -
      (typeof stored === "number" ? this.store.countStored(stored) : this.store.announce(stored));
  }

  protected async shutdown(): Promise<void> {
    await this.#worker?.close();
    this.store.close();
  }
}
