import type { HandlerRecord } from "../../record/record.ts";
import { monotonicMs } from "../../record/time.ts";
import type { HttpExchange } from "../exchange.ts";
import { openExchangeRecord, tunnelExchangeRecord } from "../exchange_record.ts";
import { isEventStreamResponse, SseEvents } from "../sse/events.ts";
import { interimRecord } from "../interim_record.ts";
import type { SniffContext, Sniffer } from "../sniffer.ts";
import { WebSocketFrames } from "../websocket/sniffer.ts";
import { Http1ExchangeSniffer } from "./exchange_sniffer.ts";

/**
 * HTTP/1 in a tunnel: one record per request. After a 101 the session's bytes are counted
 * into the upgrade request's record, which comes last; a WebSocket session's frames are
 * recorded too when `sniffing.websocket` is on.
 */
export class Http1Sniffer implements Sniffer {
  readonly name = "http";
  readonly #h1: Http1ExchangeSniffer;
  #ws: WebSocketFrames | undefined;
  /** An upgrade to something other than (recorded) WebSocket. */
  #pendingUpgrade: { rec: HandlerRecord; startMs: number } | undefined;
  #tunnelBytes = { client: 0, server: 0 };
  /** The events of the response being read, when it is an event stream. */
  #sse: SseEvents | undefined;
  // A plain timer: its wait varies, and deadlines keep one lane per duration.
  #responseTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly ctx: SniffContext) {
    this.#h1 = new Http1ExchangeSniffer(ctx.sink.capture, {
      exchange: (ex) => {
        this.#sse = undefined;
        ctx.sink.emit(tunnelExchangeRecord(ctx.record, ex));
      },
      responseHead: (ex) => {
        const { options, sink, record } = ctx;
        this.#sse = options.sse && isEventStreamResponse(ex.responseHeaders)
          ? new SseEvents(openExchangeRecord(record, ex), sink, options.sseSampleRate)
          : undefined;
      },
      responseBody: (_ex, data) => this.#sse?.data(data),
      switched: (ex, upgrade) => this.#onSwitched(ex, upgrade),
      tunnel: (side, bytes) => {
        this.#tunnelBytes[side] += bytes.length;
        this.#ws?.data(side, bytes);
      },
    });
  }

  get limitHit(): string | undefined {
    return this.#h1.limitHit ? "http1" : undefined;
  }

  onClientData(chunk: Uint8Array): void {
    this.#h1.client(chunk);
    this.#armResponseTimer();
  }

  onServerData(chunk: Uint8Array): void {
    this.#h1.server(chunk);
    this.#armResponseTimer();
  }

  /**
   * `readTimeout`: once a request has been sent, its response head must start within it,
   * else the tunnel ends and the request's record says why (GOST's upstream read deadline).
   */
  #armResponseTimer() {
    const limit = this.ctx.options.readTimeoutMs;
    if (this.#responseTimer || !(limit > 0)) return;
    const since = this.#h1.unansweredSince;
    if (since === null) return;
    const wait = Math.max(0, since + limit - monotonicMs());
    this.#responseTimer = setTimeout(() => {
      this.#responseTimer = undefined;
      const still = this.#h1.unansweredSince;
      if (still === null) return;
      if (monotonicMs() - still >= limit) {
        this.#h1.failed ??= "http: timeout waiting for the response header";
        this.ctx.abort("timeout waiting for the response header");
      } else this.#armResponseTimer();
    }, wait);
  }

  /** After a 101: remember the upgrade's record, and read frames if it is WebSocket. */
  #onSwitched(ex: HttpExchange, upgrade: string) {
    const { record, sink, options } = this.ctx;
    const rec = tunnelExchangeRecord(record, ex);
    if (upgrade.toLowerCase() === "websocket" && options.websocket) {
      this.#ws = new WebSocketFrames(rec, ex.startMs, sink, options.sampleRate);
    } else {
      this.#ws = undefined;
      this.#pendingUpgrade = { rec, startMs: ex.startMs };
    }
  }

  /**
   * What is open: the session after an upgrade (bytes so far), else the requests in flight
   * (a long download, an event stream), else, before any request ended, the tunnel itself.
   * Between requests of a kept-alive connection there is nothing open to report.
   */
  interim(seen: { client: number; server: number }): HandlerRecord[] {
    const upgraded = this.#ws
      ? { rec: this.#ws.upgrade, startMs: this.#ws.startMs }
      : this.#pendingUpgrade;
    if (upgraded) {
      const { rec, startMs } = upgraded;
      return [
        interimRecord(
          rec,
          startMs,
          rec.inputBytes + this.#tunnelBytes.client,
          rec.outputBytes + this.#tunnelBytes.server,
        ),
      ];
    }
    const open = this.#h1.open.map((ex) =>
      interimRecord(
        openExchangeRecord(this.ctx.record, ex),
        ex.startMs,
        ex.inputBytes,
        ex.outputBytes,
      )
    );
    if (open.length || this.#h1.reported > 0) return open;
    const rec = this.ctx.record;
    return [
      interimRecord(rec, rec.startMs, rec.inputBytes + seen.client, rec.outputBytes + seen.server),
    ];
  }

  finish(): void {
    clearTimeout(this.#responseTimer);
    this.#h1.finish();
    const rec = this.ctx.record;
    const upgraded = this.#ws ?? this.#pendingUpgrade;
    if (upgraded) {
      const upgrade = this.#ws?.upgrade ?? this.#pendingUpgrade!.rec;
      this.#emitUpgrade(upgrade, upgraded.startMs, rec.err);
    } else if (this.#h1.reported === 0) {
      if (this.#h1.failed) rec.err ??= this.#h1.failed;
      this.ctx.emit(rec);
    }
  }

  /** The upgrade request's record comes last, with the whole session's bytes and time. */
  #emitUpgrade(upgrade: HandlerRecord, startMs: number, err: string | undefined) {
    const { startMs: _s, ...base } = upgrade as HandlerRecord & { startMs?: number };
    this.ctx.sink.emit({
      ...base,
      inputBytes: base.inputBytes + this.#tunnelBytes.client,
      outputBytes: base.outputBytes + this.#tunnelBytes.server,
      err: base.err ?? err,
      duration: Math.round((monotonicMs() - startMs) * 1e6),
    });
  }
}
