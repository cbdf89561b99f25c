/// <reference lib="deno.worker" />
/**
 * The script of a `StoreWorker` (store_worker.ts): its own connection to the store file,
 * which stores each batch in one transaction (trims the store to `maxRecords` when it has
 * gone past, and applies both retention limits when asked)
 * and answers queries. Messages are `WorkerRequest` in, `WorkerReply` out, handled in the
 * order they come.
 */
import os from "node:os";
import { RecordStore } from "./record_store.ts";
import { exposeGc } from "../util/idle_collection.ts";
import type { RecordSummary } from "./summary.ts";
import type { StoreQuery, WorkerReply, WorkerRequest } from "./store_worker.ts";

let store: RecordStore | null = null;
/** Why the store could not be opened: every request after it gets this answer. */
let openError: Error | null = null;

function opened(): RecordStore {
  if (openError) throw openError;
  if (!store) throw new Error("the store is not open");
  return store;
}

function answer(query: StoreQuery): unknown {
  const s = opened();
  switch (query.method) {
    case "list":
      return s.listSync(query.filter, query.limit, query.before);
    case "full":
      return s.fullSync(query.filter, query.limit);
    case "get":
      return s.getSync(query.recordId);
    case "bySid":
      return s.bySidSync(query.sid);
    case "stats":
      return s.statsSync(query.filter);
  }
}

/**
 * Record text a worker handles between two full collections of its heap. A worker's garbage
 * (batches, decompressed chunks, parsed records) is collected lazily, each isolate on its own
 * schedule: with records of megabytes (captured bodies), the process held hundreds of MiB
 * more than the records in flight (`tests/e2e/capture_budget_test.ts`). A collection of a
 * worker's small heap takes milliseconds.
 */
const COLLECT_EVERY_CHARS = 32 * 1024 * 1024;
let handledChars = 0;
let collect: (() => void) | null | undefined;

/** Counts record text handled; collects the heap after each COLLECT_EVERY_CHARS of it. */
function handled(chars: number): void {
  handledChars += chars;
  if (handledChars < COLLECT_EVERY_CHARS) return;
  handledChars = 0;
  if (collect === undefined) collect = exposeGc();
  collect?.();
}

/** How long the indexer leaves the write lock alone after the writer waited for it. */
const PAUSE_MIN_MS = 100;
const PAUSE_MAX_MS = 1000;

/** The indexer's run: one at a time, each after the one before. */
let indexing: Promise<void> = Promise.resolve();

/**
 * Indexes until nothing is pending, a transaction at a time, and answers `id` with how many,
 * and how many records past `maxAge` it then deleted.
 * Between transactions it lets messages in (a `close`); each is short
 * (`RecordStore.indexPending`), so the writer waits at most that long to append.
 */
async function indexAll(id: number): Promise<void> {
  const reply: WorkerReply = { id };
  let indexed = 0, pause = 0;
  try {
    for (;;) {
      const s = store;
      if (!s) break;
      // While the writer keeps meeting the indexer's transactions, one chunk at a time, with
      // pauses between: niced under load, a transaction holds the lock many times as
      // long as it computes, and SQLite's busy wait lets the indexer take it back first.
      const step = pause ? s.indexPending(1) : s.indexPending();
      if (step === null) break;
      indexed += step.length;
      handled(s.indexedChars);
      pause = s.writerWaited ? Math.min(Math.max(2 * pause, PAUSE_MIN_MS), PAUSE_MAX_MS) : 0;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
    // Records are dated once indexed: those already past maxAge go now.
    const removed = store?.enforceAgeLimit() ?? 0;
    reply.value = { indexed, removed };
  } catch (e) {
    reply.error = e instanceof Error ? e.message : String(e);
  }
  self.postMessage(reply);
}

/**
 * The indexer's nice value: the system gives it about a tenth of a CPU the proxy also wants
 * (Linux weighs nice 10 at 110 against 1,024). At 19 (15 against 1,024) it got less, but
 * each of its transactions then held the write lock 70 times as long as it computed, the
 * writer waited 100–300 ms for it under `bench mainjob`'s load, and the recorder's queue
 * overflowed in one turn of two; at 10 the waits were 20–70 ms and nothing was dropped.
 */
const INDEXER_NICE = 10;

/**
 * Makes this thread one the system runs after the others (INDEXER_NICE; Linux sets it per
 * thread). Where it cannot, the indexer runs at the process's priority.
 */
function runWhenIdle(): void {
  try {
    const tid = Number(Deno.readLinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, INDEXER_NICE);
  } catch {
    // not Linux, or /proc not mounted: the indexer shares the CPU like any thread
  }
}

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const request = event.data;
  const reply: WorkerReply = { id: request.id };
  try {
    switch (request.type) {
      case "open":
        if (request.role === "indexer") runWhenIdle();
        try {
          store = new RecordStore(request.path, request.retention, request.options);
        } catch (e) {
          openError = e instanceof Error ? e : new Error(String(e));
          throw e;
        }
        break;
      case "write": {
        const s = opened();
        let summaries: RecordSummary[] | number | null = null, failure: unknown = null;
        try {
          summaries = s.appendBatch(request.batch, request.summaries);
        } catch (e) {
          failure = e;
        }
        // Retention runs whether or not the batch was stored (a store that cannot take more
        // records may need it most), and its own failure does not unsay a stored batch.
        try {
          if (request.retentionNow) s.enforceRetention(request.retentionNow);
          else if (s.overRecordLimit()) s.enforceRecordLimit();
        } catch (e) {
          reply.warning = `retention failed: ${e instanceof Error ? e.message : String(e)}`;
        }
        if (failure !== null) throw failure;
        // Summaries cross to the proxy's thread only for its listeners (the UI's live list).
        reply.value = summaries;
        handled(request.batch.reduce((n, t) => n + t.length, 0));
        break;
      }
      case "index":
        indexing = indexing.then(() => indexAll(request.id));
        return;
      case "query":
        reply.value = answer(request.query);
        break;
      case "close":
        store?.close();
        store = null;
        break;
    }
  } catch (e) {
    reply.error = e instanceof Error ? e.message : String(e);
  }
  try {
    self.postMessage(reply);
  } catch (e) {
    // A value the structured clone cannot copy (a stored record nested past the stack) must
    // fail this one call, not end the worker and every call waiting on it.
    self.postMessage({ id: reply.id, error: `reply could not be sent: ${(e as Error).message}` });
  }
};
