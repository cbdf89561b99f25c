import { addrIP, formatAddr } from "../net/address.ts";
import { closeQuietly } from "../net/stream.ts";
import type { HandlerRecord } from "../record/record.ts";
import { newSid } from "../record/sid.ts";
import { monotonicMs, nowNanos } from "../record/time.ts";
import type { RecordSink } from "../recorder/sink.ts";
import type { Logger } from "../util/log.ts";
import type { Shutdown } from "../util/shutdown.ts";

/** What a handler knows about one accepted connection. */
export class ConnContext {
  readonly sid = newSid();
  readonly startNanos = nowNanos();
  readonly startMs = monotonicMs();
  readonly remote: string;
  readonly local: string;
  readonly clientIP: string;

  constructor(
    readonly service: string,
    readonly network: "tcp" | "udp",
    remoteAddr: Deno.Addr,
    localAddr: Deno.Addr,
    readonly sink: RecordSink,
    readonly log: Logger,
    /** The service's shutdown: open connections and tunnels close at it. */
    readonly shutdown: Shutdown,
  ) {
    this.remote = formatAddr(remoteAddr);
    this.local = formatAddr(localAddr);
    this.clientIP = addrIP(remoteAddr);
  }

  /** A fresh record for this connection, starting now (or at the connection's start). */
  newRecord(fromConnectionStart = true): HandlerRecord & { startMs: number } {
    return {
      service: this.service,
      network: this.network,
      remote: this.remote,
      local: this.local,
      client: this.remote,
      src: "",
      dst: "",
      host: "",
      clientIP: this.clientIP,
      inputBytes: 0,
      outputBytes: 0,
      sid: this.sid,
      duration: 0,
      time: fromConnectionStart ? this.startNanos : nowNanos(),
      startMs: fromConnectionStart ? this.startMs : monotonicMs(),
    };
  }

  /** Closes `stream` when the service shuts down; returns the function that cancels this. */
  closeOnShutdown(stream: { close(): void }): () => void {
    return this.shutdown.onShutdown(() => closeQuietly(stream));
  }

  /**
   * Stamps the duration and queues the record. It goes as it is, `startMs` and all: the
   * recorders get `recordToJSON`'s text, which has GOST's fields only (a copy without
   * `startMs` was an object per record).
   */
  emit(record: HandlerRecord & { startMs: number }): void {
    if (!this.sink.recording) return;
    record.duration = Math.round((monotonicMs() - record.startMs) * 1e6);
    this.sink.emit(record);
  }
}

/** Upstream addresses for a record: `src` is our side, `dst` the origin's. */
export function upstreamAddrs(conn: Deno.Conn): { src: string; dst: string } {
  return { src: formatAddr(conn.localAddr), dst: formatAddr(conn.remoteAddr) };
}
