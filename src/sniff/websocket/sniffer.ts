import { Buffer } from "node:buffer";
import {
  FrameSampler,
  type WsFrame,
  WsFrameParser,
} from "../../protocol/websocket/frame_parser.ts";
import type { HandlerRecord } from "../../record/record.ts";
import { nowNanos } from "../../record/time.ts";
import type { RecordSink } from "../../recorder/sink.ts";
import type { Side, SniffContext, Sniffer } from "../sniffer.ts";

/**
 * The frames of a WebSocket session after its upgrade: one record per frame (sampled per
 * direction), each a copy of the upgrade request's record with a `websocket` section.
 */
export class WebSocketFrames {
  readonly #parsers: Record<Side, WsFrameParser>;
  readonly #samplers: Record<Side, FrameSampler>;

  constructor(
    /** The upgrade request's record, the base of every frame's record. */
    readonly upgrade: HandlerRecord,
    /** When the upgrade request started: the session's record is timed from it. */
    readonly startMs: number,
    readonly sink: RecordSink,
    sampleRate: number,
  ) {
    const max = sink.capture.maxBodySize;
    this.#parsers = { client: new WsFrameParser(max), server: new WsFrameParser(max) };
    this.#samplers = { client: new FrameSampler(sampleRate), server: new FrameSampler(sampleRate) };
  }

  data(side: Side, bytes: Uint8Array): void {
    this.#parsers[side].push(bytes, (f) => {
      if (this.#samplers[side].allow()) this.#emit(side, f);
    });
  }

  #emit(side: Side, f: WsFrame) {
    const { startMs: _s, ...base } = this.upgrade as HandlerRecord & { startMs?: number };
    this.sink.emit({
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
        payload: this.sink.capture.body && f.payload.length
          ? Buffer.from(f.payload).toString("base64")
          : null,
      },
      inputBytes: side === "client" ? f.wireLength : 0,
      outputBytes: side === "server" ? f.wireLength : 0,
      time: nowNanos(),
      duration: 0,
    });
  }
}

/**
 * A tunnel that starts after an HTTP upgrade the handler forwarded itself: its bytes are
 * WebSocket frames from the first, and the tunnel's record is the upgrade request's.
 */
export class WebSocketSniffer implements Sniffer {
  readonly name = "websocket";
  readonly #frames: WebSocketFrames;

  constructor(readonly ctx: SniffContext) {
    const { record, sink, options } = ctx;
    this.#frames = new WebSocketFrames(record, record.startMs, sink, options.sampleRate);
  }

  onClientData(chunk: Uint8Array): void {
    this.#frames.data("client", chunk);
  }

  onServerData(chunk: Uint8Array): void {
    this.#frames.data("server", chunk);
  }

  finish(): void {
    // The record already carries the relay's totals.
    this.ctx.emit(this.ctx.record);
  }
}
