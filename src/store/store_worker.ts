import type { RecordFilter } from "./filter.ts";
import type { RecordStore, RecordSummary, RetentionOptions, StoreOptions } from "./record_store.ts";
import type { RecordQueries } from "./summary.ts";

/** A query the worker answers with the store's method of the same name (`listSync`, …). */
export type StoreQuery =
  | { method: "list"; filter: RecordFilter; limit: number; before?: number }
  | { method: "full"; filter: RecordFilter; limit?: number }
  | { method: "get"; recordId: number }
  | { method: "bySid"; sid: string }
  | { method: "stats"; filter: RecordFilter };

/** What the worker is asked (store_worker_script.ts). */
export type WorkerRequest =
  | {
    type: "open";
    id: number;
    path: string;
    retention: RetentionOptions;
    options: StoreOptions;
    role: WorkerRole;
  }
  /**
   * `retentionNow`: apply the retention limits as of this time after the batch (0: not now).
   * `summaries`: answer with the stored records' summaries, else with how many were stored.
   */
  | { type: "write"; id: number; batch: string[]; retentionNow: number; summaries: boolean }
  | { type: "query"; id: number; query: StoreQuery }
  /** Index the pending records, in short transactions; answered once none are left. */
  | { type: "index"; id: number }
  | { type: "close"; id: number };

/**
 * Its answer: a value (a write's stored records' summaries, with the ids the store gave
 * them; a query's result) or an error's message. Filters are checked on this side
 * (`filterFromParams`), so no error class needs to cross.
 */
export interface WorkerReply {
  id: number;
  value?: unknown;
  error?: string;
  /** Something that went wrong beside the call (retention after a write), for the log. */
  warning?: string;
}

/**
 * `writer`: appends batches and answers queries. `indexer`: indexes what the writer appended
 * (`RecordStore.indexPending`), on a thread the system runs after the others (nice 10):
 * indexing costs several times appending, and under load it mostly waits, rather than
 * taking the proxy's time. Queries read pending records from their chunks meanwhile.
 */
export type WorkerRole = "writer" | "indexer";

/** A worker with nothing to do for this long is ended; the next call starts another. */
const IDLE_MS = 10_000;

/**
 * A file-backed store's worker: its own connection to the store file, which stores the
 * recorder's batches and answers the web UI's and the API's queries. SQLite's calls are
 * synchronous: on the proxy's thread, storing each record (its columns, the word index, the
 * rollups) held up proxied traffic (`deno task bench recording` measures it), and one query
 * over a million records blocks for a long time. The worker starts with the first call and
 * ends after IDLE_MS without one, since its heap and SQLite's page cache would otherwise stay
 * after the load; a worker that fails is replaced at the next call.
 */
export class StoreWorker {
  #worker: Worker | null = null;
  #nextId = 0;
  /** Calls sent and not yet answered, with the worker each went to. */
  readonly #pending = new Map<number, { worker: Worker; settle: (reply: WorkerReply) => void }>();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly path: string,
    readonly retention: RetentionOptions,
    readonly idleMs = IDLE_MS,
    readonly options: StoreOptions = {},
    /** Told of what went wrong beside a call (`WorkerReply.warning`). */
    readonly onWarning: (warning: string) => void = () => {},
    readonly role: WorkerRole = "writer",
  ) {}

  /** Whether a worker is running now. */
  get running(): boolean {
    return this.#worker !== null;
  }

  /**
   * Stores a batch (one transaction) and returns the stored records' summaries, or with
   * `summaries` false only how many were stored (nothing else then crosses between the
   * threads); with `retentionNow`, applies retention after it.
   */
  async write(
    batch: string[],
    retentionNow = 0,
    summaries = true,
  ): Promise<RecordSummary[] | number> {
    return await this.#call({ type: "write", id: 0, batch, retentionNow, summaries }) as
      | RecordSummary[]
      | number;
  }

  /**
   * Indexes the pending records; resolves once none are left, with how many it indexed and
   * how many past `maxAge` it deleted after.
   */
  async index(): Promise<{ indexed: number; removed: number }> {
    return await this.#call({ type: "index", id: 0 }) as { indexed: number; removed: number };
  }

  /** Runs a query in the worker. */
  query(query: StoreQuery): Promise<unknown> {
    return this.#call({ type: "query", id: 0, query });
  }

  /** Ends the worker (its connection closed first); a later call starts a new one. */
  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = null; // a call from now on starts a new worker
    try {
      // After what was sent before it: the worker handles its messages in order.
      await this.#send(worker, { type: "close", id: 0 });
    } catch {
      /* ended anyway */
    } finally {
      this.#end(worker, "store worker closed");
    }
  }

  async #call(request: WorkerRequest): Promise<unknown> {
    clearTimeout(this.#idleTimer);
    const worker = this.#worker ?? this.#start();
    try {
      return await this.#send(worker, request);
    } finally {
      if (this.#pending.size === 0 && this.#worker === worker) {
        const timer = setTimeout(() => this.close(), this.idleMs);
        Deno.unrefTimer(timer); // an idle worker does not keep the process up
        this.#idleTimer = timer;
      }
    }
  }

  #start(): Worker {
    const worker = new Worker(new URL("./store_worker_script.ts", import.meta.url), {
      type: "module",
    });
    worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      if (event.data.warning) this.onWarning(event.data.warning);
      const call = this.#pending.get(event.data.id);
      this.#pending.delete(event.data.id);
      call?.settle(event.data);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault(); // the worker's failure fails its calls, not the process
      this.#end(worker, `store worker failed: ${event.message}`);
    };
    this.#worker = worker;
    // Messages are handled in order: whatever is sent next finds the store open.
    this.#send(worker, {
      type: "open",
      id: 0,
      path: this.path,
      retention: this.retention,
      options: this.options,
      role: this.role,
    })
      .catch(() => {/* the calls behind it fail with the same error */});
    return worker;
  }

  #send(worker: Worker, request: WorkerRequest): Promise<unknown> {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        worker,
        settle: (reply) =>
          reply.error === undefined ? resolve(reply.value) : reject(new Error(reply.error)),
      });
      worker.postMessage({ ...request, id });
    });
  }

  /** Terminates `worker` and fails what it still owed. */
  #end(worker: Worker, why: string): void {
    worker.terminate();
    if (this.#worker === worker) this.#worker = null;
    for (const [id, call] of this.#pending) {
      if (call.worker !== worker) continue;
      this.#pending.delete(id);
      call.settle({ id, error: why });
    }
  }
}

/**
 * The queries of a file-backed store, answered by its worker; `subscribe` is the store on
 * this thread, which announces what the worker stored.
 */
export class WorkerQueries implements RecordQueries {
  constructor(readonly worker: StoreWorker, readonly store: RecordStore) {}

  list(filter: RecordFilter, limit: number, before?: number) {
    return this.worker.query({ method: "list", filter, limit, before }) as ReturnType<
      RecordQueries["list"]
    >;
  }

  full(filter: RecordFilter, limit?: number) {
    return this.worker.query({ method: "full", filter, limit }) as ReturnType<
      RecordQueries["full"]
    >;
  }

  get(recordId: number) {
    return this.worker.query({ method: "get", recordId }) as ReturnType<RecordQueries["get"]>;
  }

  bySid(sid: string) {
    return this.worker.query({ method: "bySid", sid }) as ReturnType<RecordQueries["bySid"]>;
  }

  stats(filter: RecordFilter) {
    return this.worker.query({ method: "stats", filter }) as ReturnType<RecordQueries["stats"]>;
  }

  subscribe(fn: (r: RecordSummary) => void): () => void {
    return this.store.subscribe(fn);
  }
}
