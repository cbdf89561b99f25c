/// <reference lib="deno.worker" />
/**
 * The worker behind `StoreWriter`: its own connection to the store file, which takes each
 * batch in one transaction and applies the retention limits when asked. Messages are
 * `WriterRequest` in, `WriterReply` out (store_writer.ts).
 */
import { RecordStore } from "./record_store.ts";
import type { WriterReply, WriterRequest } from "./store_writer.ts";

let store: RecordStore | null = null;

self.onmessage = (event: MessageEvent<WriterRequest>) => {
  const request = event.data;
  let reply: WriterReply;
  try {
    switch (request.type) {
      case "open":
        store = new RecordStore(request.path, request.retention);
        reply = { id: request.id, summaries: [], removed: 0 };
        break;
      case "write": {
        const summaries = store!.writeBatch(request.batch);
        const removed = request.retentionNow ? store!.enforceRetention(request.retentionNow) : 0;
        reply = { id: request.id, summaries, removed };
        break;
      }
      case "close":
        store?.close();
        store = null;
        reply = { id: request.id, summaries: [], removed: 0 };
        break;
    }
  } catch (e) {
    reply = { id: request.id, error: e instanceof Error ? e.message : String(e) };
  }
  self.postMessage(reply);
};
