import type { HandlerRecord } from "../record/record.ts";

/**
 * A recorder receives finished records and delivers them somewhere. `record` never waits:
 * it queues (or drops and counts, when the queue is full), so proxied traffic never waits
 * for a recorder. Implementations live beside this file and are listed in `mod.ts`.
 */
export interface Recorder {
  readonly name: string;
  readonly kind: string;
  /**
   * Queues a record: its JSON, or a function that makes it, called only when the record is
   * kept. A full queue drops (and counts) the record unmade, so a recorder whose endpoint is
   * down does not cost the proxy the serialization of every record it drops. The function
   * is called again with `withoutBodies` when the capture budget cannot hold the record
   * with its bodies.
   */
  record(data: string | RecordMaker): void;
  /**
   * The recorder's `filter:` as a predicate: a handler record it refuses is not offered
   * (its JSON never made). None: every record.
   */
  accepts?: (record: HandlerRecord) => boolean;
  /** Delivered, dropped (by reason) and waiting records. */
  stats(): RecorderStats;
  /** Sends what is queued (bounded by `deadlineMs`), then stops. */
  close(deadlineMs?: number): Promise<void>;
}

export interface RecorderStats {
  written: number;
  dropped: Record<string, number>;
  queued: number;
}

/**
 * Makes a record's JSON; with `withoutBodies`, with its bodies and payloads left out and
 * marked so (`bodyTruncated`, `payloadTruncated`).
 */
export type RecordMaker = (withoutBodies?: boolean) => string;
