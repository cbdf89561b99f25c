import type { Logger } from "../util/log.ts";
import {
  RecordStore,
  type RetentionOptions,
  type StoreOptions,
  WRITER_CHECKPOINT_PAGES,
} from "../store/record_store.ts";
import { WRITER_GATE_BYTES } from "../store/writer_gate.ts";
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
 * retention limits applied at most once a minute. A file-backed store is written, and
 * queried, by a worker of its own (`StoreWorker`) so that neither holds up proxied traffic,
 * and indexed by another when the machine has time (`WorkerRole`); `store` here tells
 * listeners what it stored. `:memory:` is private to one connection, so it is written,
 * indexed and queried here.
 */
export class StoreRecorder extends QueuedRecorder {
  readonly kind = "store";
  /** On this thread: listeners, counts, and for `:memory:` everything. */
  readonly store: RecordStore;
  /** What the web UI and the API ask. */
  readonly queries: RecordQueries;
  readonly #worker: StoreWorker | null;
  /** Indexes what `#worker` appended, when the machine has time (`WorkerRole`). */
  readonly #indexer: StoreWorker | null;
  /** Whether the indexer is running now, and whether it has been handed more since it began. */
  #indexing = false;
  #indexAgain = false;
  #lastIndexWarning = 0;
  /** Set once shutdown begins: no indexer is started after it. */
  #closing = false;
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
    // The writer and the indexer share it: the indexer lets a waiting writer go first.
    const shared = { ...options, writerGate: new SharedArrayBuffer(WRITER_GATE_BYTES) };
    this.#worker = path === ":memory:" ? null : new StoreWorker(
      path,
      retention,
      workerIdleMs,
      { ...shared, checkpointPages: WRITER_CHECKPOINT_PAGES },
      (warning) => log.warn("store: " + warning, { recorder: name }),
    );
    this.#indexer = path === ":memory:" ? null : new StoreWorker(
      path,
      retention,
      workerIdleMs,
      shared,
      (warning) => log.warn("store: " + warning, { recorder: name }),
      "indexer",
    );
    this.queries = this.#worker ? new WorkerQueries(this.#worker, this.store) : this.store;
    // Records a run before left pending (it ended under load) are indexed now.
    if (this.store.pendingCount() > 0) this.#index();
  }

  /**
   * Has the indexer index what is pending: one run at a time, and one more after it when
   * records came meanwhile. A failed run is logged; the records stay pending for the next.
   */
  #index(): void {
    if (!this.#indexer || this.#closing) return;
    if (this.#indexing) {
      this.#indexAgain = true;
      return;
    }
    this.#indexing = true;
    this.#indexAgain = false;
    this.#indexer.index().then(({ removed }) => {
      // The writer counts what the store keeps as it appends: it counts again at its next
      // batch (with both retention limits) once another connection deleted records.
      if (removed > 0) this.#lastRetention = 0;
    }, (e) => {
      // Tried again with the next batch: logged once a minute, not once a batch.
      if (this.#closing || Date.now() - this.#lastIndexWarning < 60_000) return;
      this.#lastIndexWarning = Date.now();
      this.log.warn(`store: indexing failed: ${e instanceof Error ? e.message : e}`, {
        recorder: this.name,
      });
    }).finally(() => {
      this.#indexing = false;
      if (this.#indexAgain) this.#index();
    });
  }

  /** Records appended and not yet indexed (queries read them from their chunks meanwhile). */
  pendingRecords(): number {
    return this.store.pendingCount();
  }

  /**
   * Stores imported records (the web UI's import) like recorded ones: appended by the
   * worker, indexed after.
   */
  async importBatch(jsons: string[]): Promise<number> {
    if (!this.#worker) return this.store.insertBatch(jsons);
    const stored = await this.#worker.write(jsons, 0, this.store.listened);
    this.#index();
    return typeof stored === "number"
      ? this.store.countStored(stored)
      : this.store.announce(stored);
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
    this.#index();
    return batch.length -
      (typeof stored === "number" ? this.store.countStored(stored) : this.store.announce(stored));
  }

  protected async shutdown(): Promise<void> {
    // What is still pending stays in the store, indexed when it is next opened.
    this.#closing = true;
    await this.#indexer?.close();
    await this.#worker?.close();
    this.store.close();
  }
}
