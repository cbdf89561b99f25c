import { detectProtocol } from "../protocol/detect.ts";
import { type SniffContext, type Sniffer, snifferFor } from "../sniff/mod.ts";
import type { HandlerRecord } from "../record/record.ts";
import { interimRecord } from "../sniff/interim_record.ts";
import type { TunnelRecord } from "../sniff/sniffer.ts";
import { type Deadline, deadline } from "../util/deadlines.ts";
import type { ConnContext } from "./conn_context.ts";
import { InterimTimer } from "./interim.ts";
import type { RelayResult } from "./relay.ts";
import type { TunnelOptions } from "./tunnel_options.ts";

const MAX_DETECT_BYTES = 32;
/** Server bytes held while the client has not yet said which protocol this is. */
const MAX_EARLY_SERVER_BYTES = 64 * 1024;

/**
 * Watches a copy of a tunnel's bytes and reports what it carries: it holds the client's
 * first bytes until `detectProtocol` names the protocol, takes that protocol's sniffer
 * from the registry (src/sniff/mod.ts) and replays what it held into it; from then on
 * every chunk goes straight to that sniffer. It never holds or changes a byte of the
 * tunnel: the relay has already sent each chunk. It keeps no protocol state of its own.
 */
export class TunnelSniffer {
  readonly #ctx: SniffContext;
  /** Undefined while the protocol is not known yet. */
  #sniffer: Sniffer | undefined;
  #earlyServer: Uint8Array[] = [];
  #earlyServerBytes = 0;
  #detectBuf = new Uint8Array(MAX_DETECT_BYTES);
  #detectLen = 0;
  /** Deadlines on the shared timer: a setTimeout costs more memory per idle tunnel. */
  #timer: Deadline | undefined;
  /** Bytes seen each way so far, for interim records. */
  readonly #seen = { client: 0, server: 0 };
  #interim: InterimTimer | undefined;

  constructor(
    ctx: ConnContext,
    record: TunnelRecord,
    opts: TunnelOptions,
    /** Start after an HTTP upgrade the handler already forwarded (its record is `record`). */
    upgraded = false,
    /** Ends the tunnel (both sides) with a reason, e.g. an upstream that never answers. */
    abort: (reason: string) => void = () => {},
  ) {
    this.#ctx = { record, sink: ctx.sink, emit: (r) => ctx.emit(r), options: opts, abort };
    if (opts.intervalMs > 0) {
      this.#interim = new InterimTimer(opts.intervalMs, () => this.#reportInterim());
    }
    if (upgraded) {
      this.#sniffer = snifferFor("websocket", this.#ctx);
      return;
    }
    // A client that sends nothing (a server-speaks-first protocol) is relayed as is.
    this.#timer = deadline(opts.sniffTimeoutMs, () => {
      if (!this.#sniffer) this.#giveUp();
    });
  }

  /** The chosen sniffer's name, or "detect" while the first bytes are awaited. */
  get protocol(): string {
    return this.#sniffer?.name ?? "detect";
  }

  /** The parser limit that stopped sniffing, if one did ("http1", "http2"), for counting. */
  get limitHit(): string | undefined {
    return this.#sniffer?.limitHit;
  }

  readonly onClientData = (chunk: Uint8Array): void => {
    this.#seen.client += chunk.length;
    if (this.#sniffer) this.#sniffer.onClientData(chunk);
    else this.#detect(chunk);
  };

  readonly onServerData = (chunk: Uint8Array): void => {
    this.#seen.server += chunk.length;
    if (this.#sniffer) return this.#sniffer.onServerData(chunk);
    // The server spoke first. That is an SMTP or SSH banner, or an HTTP/2 server's
    // SETTINGS sent before the client's preface arrived: keep a copy until the client's
    // first bytes decide (too much, and this is not a protocol we sniff).
    if (this.#earlyServerBytes + chunk.length > MAX_EARLY_SERVER_BYTES) {
      this.#giveUp();
      this.#timer?.cancel();
      return;
    }
    this.#earlyServer.push(chunk.slice());
    this.#earlyServerBytes += chunk.length;
  };

  /** What is still open, so far: the sniffer's say, else the tunnel's own record. */
  #reportInterim() {
    const { record, sink } = this.#ctx;
    const seen = this.#seen;
    let records: HandlerRecord[];
    try {
      records = this.#sniffer?.interim?.(seen) ?? [
        interimRecord(
          record,
          record.startMs,
          record.inputBytes + seen.client,
          record.outputBytes + seen.server,
        ),
      ];
    } catch {
      // A sniffer's state it cannot report from (it stopped on hostile traffic): the
      // final record still comes; interim ones stop rather than fail on the shared timer.
      this.#interim?.stop();
      return;
    }
    for (const r of records) sink.emit(r);
  }

  #giveUp() {
    this.#sniffer = snifferFor("opaque", this.#ctx);
    this.#earlyServer = [];
  }

  #detect(chunk: Uint8Array) {
    const take = Math.min(chunk.length, MAX_DETECT_BYTES - this.#detectLen);
    this.#detectBuf.set(chunk.subarray(0, take), this.#detectLen);
    this.#detectLen += take;
    const proto = detectProtocol(this.#detectBuf.subarray(0, this.#detectLen));
    if (proto === null && this.#detectLen < MAX_DETECT_BYTES) return;
    this.#timer?.cancel();
    const sniffer = this.#sniffer = snifferFor(proto ?? "unknown", this.#ctx);
    // Feed everything seen so far: the detection bytes were already part of `chunk`s.
    const seen = this.#detectBuf.slice(0, this.#detectLen - take);
    if (sniffer.name !== "opaque") {
      if (seen.length) sniffer.onClientData(seen);
      sniffer.onClientData(chunk);
      for (const early of this.#earlyServer) sniffer.onServerData(early);
    }
    this.#earlyServer = [];
  }

  /**
   * The relay ended: the sniffer reports what is still open, and the tunnel's own record
   * if due; then the limit that stopped sniffing, if one did, is counted.
   */
  finish(_result: RelayResult): void {
    this.#timer?.cancel();
    this.#interim?.stop();
    const sniffer = this.#sniffer ?? snifferFor("opaque", this.#ctx);
    const count = () => {
      const stopped = sniffer.limitHit;
      if (stopped) this.#ctx.sink.limited(`sniff-${stopped}`);
    };
    const done = sniffer.finish();
    if (done) void done.then(count);
    else count();
  }
}
