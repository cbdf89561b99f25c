import { hpackLoaded, loadHpack } from "../../protocol/http2/hpack_decoder.ts";
import type { HttpExchange } from "../exchange.ts";
import { isDecrypted, openExchangeRecord, tunnelExchangeRecord } from "../exchange_record.ts";
import { isEventStreamResponse, SseEvents } from "../sse/events.ts";
import type { HandlerRecord } from "../../record/record.ts";
import { interimRecord } from "../interim_record.ts";
import type { Side, SniffContext, Sniffer } from "../sniffer.ts";
import { H2Sniffer } from "./h2_sniffer.ts";

/**
 * Bytes (both directions) held while the HPACK decoder loads for the first HTTP/2 tunnel,
 * once per process; more, and that tunnel goes unsniffed.
 */
const MAX_HELD_BYTES = 1024 * 1024;

/**
 * HTTP/2 in a tunnel (prior knowledge, or decrypted after MITM): one record per stream.
 * The process's first HTTP/2 tunnel waits for the HPACK decoder to load: its bytes are
 * held (copied, in order, up to MAX_HELD_BYTES) and replayed once it has.
 */
export class Http2Sniffer implements Sniffer {
  readonly name = "h2";
  #h2: H2Sniffer | undefined;
  /** Chunks in arrival order while the decoder loads. */
  #held: { side: Side; bytes: Uint8Array }[] = [];
  #heldBytes = 0;
  #heldTooMuch = false;
  /** Gave up before the decoder was there: the tunnel goes on unsniffed. */
  #gaveUp = false;
  #loading: Promise<void> | undefined;
  /** Records reported from inside the tunnel. */
  #reported = 0;
  /** The event streams among the open streams' responses. */
  readonly #sse = new Map<HttpExchange, SseEvents>();

  constructor(readonly ctx: SniffContext) {
    if (hpackLoaded()) this.#start();
    else {
      this.#loading = loadHpack().then(() => this.#start(), (e) => {
        this.#giveUp(`http2: the HPACK decoder did not load: ${(e as Error).message}`);
      });
    }
  }

  get limitHit(): string | undefined {
    return this.#h2?.limitHit || this.#heldTooMuch ? "http2" : undefined;
  }

  onClientData(chunk: Uint8Array): void {
    if (this.#h2) this.#h2.client(chunk);
    else this.#hold("client", chunk);
  }

  onServerData(chunk: Uint8Array): void {
    if (this.#h2) this.#h2.server(chunk);
    else this.#hold("server", chunk);
  }

  #start() {
    if (this.#gaveUp) return;
    const { record, sink, options } = this.ctx;
    const h2 = this.#h2 = new H2Sniffer(
      sink.capture,
      (ex) => {
        this.#reported++;
        this.#sse.delete(ex);
        sink.emit(tunnelExchangeRecord(record, ex));
      },
      isDecrypted(record) ? "https" : "http",
      {
        head: (ex) => {
          if (!options.sse || !isEventStreamResponse(ex.responseHeaders)) return;
          this.#sse.set(
            ex,
            new SseEvents(openExchangeRecord(record, ex), sink, options.sseSampleRate),
          );
        },
        data: (ex, data) => this.#sse.get(ex)?.data(data),
      },
    );
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    for (const { side, bytes } of held) {
      if (side === "client") h2.client(bytes);
      else h2.server(bytes);
    }
  }

  #hold(side: Side, chunk: Uint8Array) {
    if (this.#gaveUp) return;
    if (this.#heldBytes + chunk.length > MAX_HELD_BYTES) {
      this.#heldTooMuch = true;
      return this.#giveUp("http2: not sniffed, over 1 MiB passed while its decoder loaded");
    }
    // The relay reuses its buffer: what is held must be a copy.
    this.#held.push({ side, bytes: chunk.slice() });
    this.#heldBytes += chunk.length;
  }

  /** The tunnel goes on unsniffed; its own record says why. */
  #giveUp(reason: string) {
    this.#gaveUp = true;
    this.#held = [];
    this.#heldBytes = 0;
    this.ctx.record.err ??= reason;
  }

  /** The streams still open, else (before any stream ended) the tunnel itself. */
  interim(seen: { client: number; server: number }): HandlerRecord[] {
    const { record } = this.ctx;
    const open = (this.#h2?.open ?? []).map((ex) =>
      interimRecord(openExchangeRecord(record, ex), ex.startMs, ex.inputBytes, ex.outputBytes)
    );
    if (open.length || this.#reported > 0) return open;
    return [
      interimRecord(
        record,
        record.startMs,
        record.inputBytes + seen.client,
        record.outputBytes + seen.server,
      ),
    ];
  }

  /** A tunnel that ended while the decoder was loading is reported once it has loaded. */
  finish(): void | Promise<void> {
    if (!this.#h2 && !this.#gaveUp && this.#loading) {
      return this.#loading.then(() => this.#report());
    }
    this.#report();
  }

  #report() {
    const rec = this.ctx.record;
    if (this.#h2) {
      this.#h2.finish();
      if (this.#reported === 0) {
        if (this.#h2.failed) rec.err ??= this.#h2.failed;
        this.ctx.emit(rec);
      }
    } else this.ctx.emit(rec);
  }
}
