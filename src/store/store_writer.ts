import type { RecordSummary, RetentionOptions } from "./record_store.ts";

/** What the writer's worker is asked (store_writer_worker.ts). */
export type WriterRequest =
  | { type: "open"; id: number; path: string; retention: RetentionOptions }
  /** `retentionNow`: apply the retention limits as of this time after the batch (0: not now). */
  | { type: "write"; id: number; batch: string[]; retentionNow: number }
  | { type: "close"; id: number };

/** Its answer: the stored records' summaries and how many retention removed, or an error. */
export type WriterReply =
  | { id: number; summaries: RecordSummary[]; removed: number; error?: undefined }
  | { id: number; error: string };

/**
 * Writes a file-backed store from a worker of its own. SQLite's calls are synchronous, and a
 * record costs ~43 µs to store (its columns, the word index, the rollups): on the proxy's
 * thread, (a)'s load with the store recorder served 43% of the requests it served without
 * a recorder, at a p99 of 104 ms against 9 (`deno task bench recording`), because the
 * inserts held up the event loop. The worker keeps its own connection; the store on the
 * proxy's thread answers queries and tells listeners about what the worker stored.
 */
export class StoreWriter {
  readonly #worker: Worker;
  #nextId = 0;
  readonly #pending = new Map<number, (reply: WriterReply) => void>();
  readonly #opened: Promise<WriterReply>;
  /** Set when the worker failed: every call after it fails at once. */
  #failure: Error | null = null;

  constructor(path: string, retention: RetentionOptions) {
    this.#worker = new Worker(new URL("./store_writer_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent<WriterReply>) => {
      const settle = this.#pending.get(event.data.id);
      this.#pending.delete(event.data.id);
      settle?.(event.data);
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault(); // the worker's failure is the recorder's error, not the process's
      this.#fail(new Error(`store writer failed: ${event.message}`));
    };
    this.#opened = this.#call({ type: "open", id: 0, path, retention });
  }

  /** Stores a batch (one transaction); with `retentionNow`, applies retention after it. */
  async write(
    batch: string[],
    retentionNow = 0,
  ): Promise<{ summaries: RecordSummary[]; removed: number }> {
    this.#check(await this.#opened);
    const reply = this.#check(await this.#call({ type: "write", id: 0, batch, retentionNow }));
    return { summaries: reply.summaries, removed: reply.removed };
  }

  /** Closes the worker's connection and ends the worker. */
  async close(): Promise<void> {
    try {
      if (!this.#failure) await this.#call({ type: "close", id: 0 });
    } finally {
      this.#worker.terminate();
      this.#fail(new Error("store writer closed"));
    }
  }

  get failed(): boolean {
    return this.#failure !== null;
  }

  #call(request: WriterRequest): Promise<WriterReply> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#worker.postMessage({ ...request, id });
    });
  }

  #check(reply: WriterReply): Extract<WriterReply, { summaries: RecordSummary[] }> {
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const settle of this.#pending.values()) settle({ id: 0, error: this.#failure.message });
    this.#pending.clear();
  }
}
