import type { HandlerRecord } from "../record/record.ts";
import type { RecordSink } from "../recorder/sink.ts";

/** Which way a chunk went: from the client, or from the server. */
export type Side = "client" | "server";

/** A tunnel's own record, with the monotonic time its duration is measured from. */
export type TunnelRecord = HandlerRecord & { startMs: number };

/** The handler options a sniffer reads (a subset of the tunnel's options). */
export interface SniffOptions {
  /** Record WebSocket frames after an upgrade. */
  websocket: boolean;
  /** Frames recorded per second per direction (<0 = all). */
  sampleRate: number;
  /** Record each event of a `text/event-stream` response. */
  sse: boolean;
  /** Events recorded per second per stream (<0 = all). */
  sseSampleRate: number;
  /** Interim records of what is still open, this often (0 = off). */
  intervalMs: number;
  /** Deadline for a response head once its request was sent (0 = none). */
  readTimeoutMs: number;
}

/** What a sniffer gets from the tunnel it watches. */
export interface SniffContext {
  /** The tunnel's own record: the base of per-request records, reported when nothing was. */
  readonly record: TunnelRecord;
  /** Where per-request and per-frame records go, and the body capture settings. */
  readonly sink: RecordSink;
  /** Stamps the tunnel record's duration and queues it. */
  emit(record: TunnelRecord): void;
  readonly options: SniffOptions;
  /** Ends the tunnel (both sides) with a reason, e.g. an upstream that never answers. */
  abort(reason: string): void;
}

/**
 * One protocol's sniffer. It reads a copy of a tunnel's bytes, after the relay has sent
 * them, and turns them into records; it never holds or changes a byte of the tunnel. The
 * dispatcher feeds it every byte from the start of the tunnel, in order per direction.
 */
export interface Sniffer {
  /** The registry name it was made under. */
  readonly name: string;
  onClientData(chunk: Uint8Array): void;
  onServerData(chunk: Uint8Array): void;
  /**
   * The tunnel ended: report what is still open, and the tunnel's own record if no record
   * was made from inside it. A promise when reporting has to wait (a decoder loading).
   */
  finish(): void | Promise<void>;
  /** The parser limit that stopped sniffing, if one did ("http1", "http2"), for counting. */
  readonly limitHit?: string;
  /**
   * Interim records of what is still open (`sniffing.interval`), given the bytes the tunnel
   * carried so far each way. Without it, the tunnel's own record is reported so far.
   */
  interim?(seen: { client: number; server: number }): HandlerRecord[];
}

/** Makes a sniffer for one tunnel. */
export type SnifferFactory = (ctx: SniffContext) => Sniffer;
