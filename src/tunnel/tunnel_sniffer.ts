import type { TunnelOptions } from "./tunnel_options.ts";
import { exchangeRecord } from "../sniff/exchange_record.ts";
import type { HandlerRecord } from "../record/record.ts";
import { monotonicMs, nowNanos } from "../record/time.ts";
import type { RelayResult } from "./relay.ts";
import type { ConnContext } from "./conn_context.ts";
import { detectProtocol, type Protocol } from "../protocol/detect.ts";
import type { HttpExchange } from "../sniff/exchange.ts";
import { Http1ExchangeSniffer } from "../sniff/http1/exchange_sniffer.ts";
import { H2Sniffer } from "../sniff/http2/h2_sniffer.ts";
import { hpackLoaded, loadHpack } from "../protocol/http2/hpack_decoder.ts";
import {
  type ClientHello,
  newClientHelloReader,
  newServerHelloReader,
  type ServerHello,
} from "../protocol/tls/hello.ts";
import { cipherSuiteName, tlsVersionName } from "../protocol/tls/names.ts";
import { FrameSampler, type WsFrame, WsFrameParser } from "../protocol/websocket/frame_parser.ts";
import { Buffer } from "node:buffer";
import { type Deadline, deadline } from "../util/deadlines.ts";

type Rec = HandlerRecord & { startMs: number };
type Mode = "detect" | "http" | "h2" | "h2-loading" | "tls" | "websocket" | "opaque";

const MAX_DETECT_BYTES = 32;
/** Server bytes held while the client has not yet said which protocol this is. */
const MAX_EARLY_SERVER_BYTES = 64 * 1024;
/**
 * Bytes (both directions) held while the HPACK decoder loads for the first HTTP/2 tunnel,
 * tens of milliseconds once per process; more, and that tunnel goes unsniffed.
 */
const MAX_HELD_BYTES = 1024 * 1024;

interface WebsocketState {
  upgrade: HandlerRecord;
  upgradeStartMs: number;
  client: WsFrameParser;
  server: WsFrameParser;
  samplers: { client: FrameSampler; server: FrameSampler };
}

/**
 * Watches a copy of a tunnel's bytes and reports what it carries (spec §4): HTTP/1 and
 * HTTP/2 as one record per request, TLS as one record per connection with the hello
 * details, WebSocket frames (sampled) after an upgrade, anything else as the tunnel's
 * record. It never holds or changes a byte: the relay has already sent each chunk.
 */
export class TunnelSniffer {
  #mode: Mode = "detect";
  #earlyServer: Uint8Array[] = [];
  #earlyServerBytes = 0;
  #detectBuf = new Uint8Array(MAX_DETECT_BYTES);
  #detectLen = 0;
  /** Deadlines on the shared timer: a setTimeout is ~1.2 KB more RSS per idle tunnel. */
  #timer: Deadline | undefined;
  #h1?: Http1ExchangeSniffer;
  #h2?: H2Sniffer;
  #tls?: {
    client: ReturnType<typeof newClientHelloReader>;
    server: ReturnType<typeof newServerHelloReader>;
    clientHello?: { hello: ClientHello; raw: Uint8Array };
    serverHello?: { hello: ServerHello; raw: Uint8Array };
    error?: string;
  };
  #ws?: WebsocketState;
  /** Chunks in arrival order while the HPACK decoder loads (mode "h2-loading"). */
  #held: { side: "client" | "server"; bytes: Uint8Array }[] = [];
  #heldBytes = 0;
  #heldTooMuch = false;
  #loading: Promise<void> | undefined;
  /** Records reported from inside the tunnel (requests, frames). */
  #reported = 0;
  #tunnelBytes = { client: 0, server: 0 };

  /** The parser limit that stopped sniffing, if one did ("http1", "http2"), for counting. */
  get limitHit(): string | undefined {
    if (this.#h2?.limitHit || this.#heldTooMuch) return "http2";
    if (this.#h1?.limitHit) return "http1";
    return undefined;
  }

  constructor(
    readonly ctx: ConnContext,
    readonly record: Rec,
    readonly opts: TunnelOptions,
    /** Start after an HTTP upgrade the handler already forwarded (its record is `record`). */
    upgraded = false,
    /** Ends the tunnel (both sides) with a reason, e.g. an upstream that never answers. */
    readonly abort: (reason: string) => void = () => {},
  ) {
    if (upgraded) {
      this.#startWebsocket(record, record.startMs);
      return;
    }
    // A client that sends nothing (a server-speaks-first protocol) is relayed as is.
    this.#timer = deadline(opts.sniffTimeoutMs, () => {
      if (this.#mode === "detect") {
        this.#mode = "opaque";
        this.#earlyServer = [];
      }
    });
  }

  get protocol(): Mode {
    return this.#mode;
  }

  readonly onClientData = (chunk: Uint8Array): void => {
    switch (this.#mode) {
      case "detect":
        return this.#detect(chunk);
      case "http":
        this.#h1!.client(chunk);
        return this.#armResponseTimer();
      case "h2":
        return this.#h2!.client(chunk);
      case "h2-loading":
        return this.#hold("client", chunk);
      case "tls":
        if (!this.#tls!.clientHello) this.#onClientHello(this.#tls!.client.push(chunk));
        return;
      case "websocket":
        return this.#wsData("client", chunk);
    }
  };

  readonly onServerData = (chunk: Uint8Array): void => {
    switch (this.#mode) {
      case "detect":
        // The server spoke first. That is an SMTP or SSH banner, or an HTTP/2 server's
        // SETTINGS sent before the client's preface arrived: keep a copy until the client's
        // first bytes decide (too much, and this is not a protocol we sniff).
        if (this.#earlyServerBytes + chunk.length > MAX_EARLY_SERVER_BYTES) {
          this.#mode = "opaque";
          this.#earlyServer = [];
          this.#timer?.cancel();
          return;
        }
        this.#earlyServer.push(chunk.slice());
        this.#earlyServerBytes += chunk.length;
        return;
      case "http":
        this.#h1!.server(chunk);
        return this.#armResponseTimer();
      case "h2":
        return this.#h2!.server(chunk);
      case "h2-loading":
        return this.#hold("server", chunk);
      case "tls":
        if (this.#tls!.clientHello && !this.#tls!.serverHello && !this.#tls!.error) {
          this.#onServerHello(this.#tls!.server.push(chunk));
        }
        return;
      case "websocket":
        return this.#wsData("server", chunk);
    }
  };

  // A plain timer: its wait varies, and deadlines keep one lane per duration.
  #responseTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * `readTimeout`: once a request has been sent, its response head must start within it,
   * else the tunnel ends and the request's record says why (GOST's upstream read deadline).
   */
  #armResponseTimer() {
    if (this.#responseTimer || !(this.opts.readTimeoutMs > 0)) return;
    const since = this.#h1?.unansweredSince;
    if (since === null || since === undefined) return;
    const wait = Math.max(0, since + this.opts.readTimeoutMs - monotonicMs());
    this.#responseTimer = setTimeout(() => {
      this.#responseTimer = undefined;
      const still = this.#h1?.unansweredSince;
      if (still === null || still === undefined) return;
      if (monotonicMs() - still >= this.opts.readTimeoutMs) {
        this.#h1!.failed ??= "http: timeout waiting for the response header";
        this.abort("timeout waiting for the response header");
      } else this.#armResponseTimer();
    }, wait);
  }

  #detect(chunk: Uint8Array) {
    const take = Math.min(chunk.length, MAX_DETECT_BYTES - this.#detectLen);
    this.#detectBuf.set(chunk.subarray(0, take), this.#detectLen);
    this.#detectLen += take;
    const proto = detectProtocol(this.#detectBuf.subarray(0, this.#detectLen));
    if (proto === null && this.#detectLen < MAX_DETECT_BYTES) return;
    this.#timer?.cancel();
    this.#start(proto ?? "unknown");
    // Feed everything seen so far: the detection bytes were already part of `chunk`s.
    const seen = this.#detectBuf.slice(0, this.#detectLen - take);
    if (this.#mode !== "opaque") {
      if (seen.length) this.onClientData(seen);
      this.onClientData(chunk);
      for (const early of this.#earlyServer) this.onServerData(early);
    }
    this.#earlyServer = [];
  }

  #start(proto: Protocol) {
    const capture = this.ctx.sink.capture;
    switch (proto) {
      case "http":
        this.#mode = "http";
        this.#h1 = new Http1ExchangeSniffer(capture, {
          exchange: (ex) => this.#onExchange(ex),
          switched: (ex, upgrade) => this.#onSwitched(ex, upgrade),
          tunnel: (side, bytes) => {
            this.#tunnelBytes[side] += bytes.length;
            if (this.#ws) this.#wsData(side, bytes);
          },
        });
        return;
      case "h2":
        if (hpackLoaded()) return this.#startH2();
        // The first HTTP/2 tunnel: its bytes wait (copied, in order) for the decoder.
        this.#mode = "h2-loading";
        this.#loading = loadHpack().then(() => this.#startH2(), (e) => {
          this.#giveUpHeld(`http2: the HPACK decoder did not load: ${(e as Error).message}`);
        });
        return;
      case "tls":
        this.#mode = "tls";
        this.#tls = { client: newClientHelloReader(), server: newServerHelloReader() };
        return;
      default:
        this.#mode = "opaque";
    }
  }

  #startH2() {
    if (this.#mode !== "detect" && this.#mode !== "h2-loading") return; // gave up meanwhile
    this.#mode = "h2";
    this.#h2 = new H2Sniffer(
      this.ctx.sink.capture,
      (ex) => this.#onExchange(ex),
      this.#decrypted ? "https" : "http",
    );
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    for (const { side, bytes } of held) {
      if (side === "client") this.#h2.client(bytes);
      else this.#h2.server(bytes);
    }
  }

  #hold(side: "client" | "server", chunk: Uint8Array) {
    if (this.#heldBytes + chunk.length > MAX_HELD_BYTES) {
      this.#heldTooMuch = true;
      return this.#giveUpHeld("http2: not sniffed, over 1 MiB passed while its decoder loaded");
    }
    this.#held.push({ side, bytes: chunk.slice() });
    this.#heldBytes += chunk.length;
  }

  /** The tunnel goes on unsniffed; its own record says why. */
  #giveUpHeld(reason: string) {
    this.#mode = "opaque";
    this.#held = [];
    this.#heldBytes = 0;
    this.record.err ??= reason;
  }

  /** Traffic decrypted by MITM: HTTP inside TLS defaults to port 443 and scheme https. */
  get #decrypted(): boolean {
    return this.record.proto === "tls" && this.record.tls !== undefined;
  }

  #exchangeRecord(ex: HttpExchange): HandlerRecord {
    if (this.#decrypted && ex.scheme === "") ex.scheme = "https";
    return exchangeRecord(this.record, ex, this.#decrypted ? 443 : 80);
  }

  #onExchange(ex: HttpExchange) {
    this.#reported++;
    this.ctx.sink.emit(this.#exchangeRecord(ex));
  }

  /** After a 101: remember the upgrade's record, and read frames if it is WebSocket. */
  #onSwitched(ex: HttpExchange, upgrade: string) {
    const rec = this.#exchangeRecord(ex);
    if (upgrade.toLowerCase() === "websocket" && this.opts.websocket) {
      this.#startWebsocket(rec, ex.startMs);
    } else {
      this.#ws = undefined;
      this.#pendingUpgrade = { rec, startMs: ex.startMs };
    }
  }

  #pendingUpgrade: { rec: HandlerRecord; startMs: number } | undefined;

  #startWebsocket(upgrade: HandlerRecord, startMs: number) {
    const max = this.ctx.sink.capture.maxBodySize;
    this.#ws = {
      upgrade,
      upgradeStartMs: startMs,
      client: new WsFrameParser(max),
      server: new WsFrameParser(max),
      samplers: {
        client: new FrameSampler(this.opts.sampleRate),
        server: new FrameSampler(this.opts.sampleRate),
      },
    };
    if (this.#mode === "detect") this.#mode = "websocket";
    this.#timer?.cancel();
  }

  #wsData(side: "client" | "server", bytes: Uint8Array) {
    const ws = this.#ws;
    if (!ws) return;
    ws[side].push(bytes, (f) => {
      if (ws.samplers[side].allow()) this.#emitFrame(ws, side, f);
    });
  }

  #emitFrame(ws: WebsocketState, side: "client" | "server", f: WsFrame) {
    this.#reported++;
    const { startMs: _s, ...base } = ws.upgrade as HandlerRecord & { startMs?: number };
    this.ctx.sink.emit({
      ...base,
      websocket: {
        from: side,
        fin: f.fin,
        rsv1: f.rsv1,
        rsv2: f.rsv2,
        rsv3: f.rsv3,
        opcode: f.opcode,
        masked: f.masked,
        maskKey: f.maskKey,
        length: f.length,
        payload: this.ctx.sink.capture.body && f.payload.length
          ? Buffer.from(f.payload).toString("base64")
          : null,
      },
      inputBytes: side === "client" ? f.wireLength : 0,
      outputBytes: side === "server" ? f.wireLength : 0,
      time: nowNanos(),
      duration: 0,
    });
  }

  #onClientHello(r: ReturnType<ReturnType<typeof newClientHelloReader>["push"]>) {
    if (r.status === "done") this.#tls!.clientHello = { hello: r.hello, raw: r.raw };
    else if (r.status === "invalid") this.#tls!.error = `tls: ${r.reason}`;
  }

  #onServerHello(r: ReturnType<ReturnType<typeof newServerHelloReader>["push"]>) {
    if (r.status === "done") this.#tls!.serverHello = { hello: r.hello, raw: r.raw };
    else if (r.status === "invalid") this.#tls!.error = `tls: ${r.reason}`;
  }

  /**
   * The relay ended: report what is still open, and the tunnel's own record if due, and
   * count the limit that stopped sniffing, if one did. A tunnel that ended while the HPACK
   * decoder was still loading (the process's first HTTP/2 tunnel, a short one) is reported
   * once what it held has been sniffed.
   */
  finish(result: RelayResult): void {
    if (this.#mode === "h2-loading") {
      this.#loading!.then(() => this.finish(result));
      return;
    }
    this.#report(result);
    const stopped = this.limitHit;
    if (stopped) this.ctx.sink.limited(`sniff-${stopped}`);
  }

  #report(result: RelayResult): void {
    this.#timer?.cancel();
    clearTimeout(this.#responseTimer);
    const rec = this.record;
    switch (this.#mode) {
      case "http": {
        this.#h1!.finish();
        const upgraded = this.#ws?.upgrade ?? this.#pendingUpgrade?.rec;
        if (upgraded) {
          this.#emitUpgrade(
            upgraded,
            this.#ws?.upgradeStartMs ?? this.#pendingUpgrade!.startMs,
            rec.err,
          );
        } else if (this.#h1!.reported === 0) {
          if (this.#h1!.failed) rec.err ??= this.#h1!.failed;
          this.ctx.emit(rec);
        }
        return;
      }
      case "websocket":
        // Upgraded by the handler: the record already carries the relay's totals.
        this.ctx.emit(rec);
        return;
      case "h2": {
        this.#h2!.finish();
        if (this.#reported === 0) {
          if (this.#h2!.failed) rec.err ??= this.#h2!.failed;
          this.ctx.emit(rec);
        }
        return;
      }
      case "tls": {
        const t = this.#tls!;
        rec.proto = "tls";
        const ch = t.clientHello, sh = t.serverHello;
        rec.tls = {
          serverName: ch?.hello.serverName ?? "",
          cipherSuite: sh ? cipherSuiteName(sh.hello.cipherSuite) : "",
          compressionMethod: sh?.hello.compressionMethod ?? 0,
          proto: sh?.hello.alpn || ch?.hello.alpn[0] || "",
          version: sh ? tlsVersionName(sh.hello.version) : "",
          clientHello: ch ? Buffer.from(ch.raw).toString("hex") : "",
          serverHello: sh ? Buffer.from(sh.raw).toString("hex") : "",
        };
        if (ch?.hello.ech) rec.tls.ech = true;
        if (t.error) rec.err ??= t.error;
        else if (!ch) rec.err ??= "tls: connection closed before the ClientHello was complete";
        this.ctx.emit(rec);
        return;
      }
      default:
        void result;
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
