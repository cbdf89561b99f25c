import { type SseEvent, SseParser } from "../../protocol/sse/event_parser.ts";
import { FrameSampler } from "../../protocol/websocket/frame_parser.ts";
import type { HandlerRecord } from "../../record/record.ts";
import { withoutBodies } from "../interim_record.ts";
import { nowNanos } from "../../record/time.ts";
import type { RecordSink } from "../../recorder/sink.ts";
import { wholeString } from "../../util/text.ts";

/** `sniffing.sse` and its sample rate, as sniffers and the forward proxy read them. */
export interface SseOptions {
  sse: boolean;
  /** Events recorded per second (<0 = all). */
  sseSampleRate: number;
}

/**
 * The events of one `text/event-stream` response: one record per event (sampled like
 * WebSocket frames), each a copy of the request's record as it was when the response head
 * arrived, with an `sse` section. The request's own record still comes when the stream ends.
 * Only an identity-coded body is read: a compressed stream's bytes are not events.
 */
export class SseEvents {
  readonly #parser: SseParser;
  readonly #sampler: FrameSampler;
  readonly #base: HandlerRecord;

  constructor(request: HandlerRecord, readonly sink: RecordSink, sampleRate: number) {
    this.#base = withoutBodies(request);
    this.#parser = new SseParser(sink.capture.maxBodySize);
    this.#sampler = new FrameSampler(sampleRate);
  }

  /** Bytes of the response body (after chunked decoding), in order. */
  data(bytes: Uint8Array): void {
    this.#parser.push(bytes, (e) => {
      if (this.#sampler.allow()) this.#emit(e);
    });
  }

  #emit(e: SseEvent) {
    const body = this.sink.capture.body;
    this.sink.emit({
      ...this.#base,
      sse: {
        event: wholeString(e.event),
        id: e.id === null ? null : wholeString(e.id),
        data: body ? wholeString(e.data) : null,
        retry: e.retry,
        ...(body && e.comment !== null ? { comment: wholeString(e.comment) } : {}),
        ...(e.truncated ? { truncated: true } : {}),
      },
      inputBytes: 0,
      outputBytes: e.wireLength,
      time: nowNanos(),
      duration: 0,
    });
  }
}

/** Whether a response head (name/value pairs) is an identity-coded event stream. */
export function isEventStreamResponse(headers: [string, string][] | null): boolean {
  if (!headers) return false;
  let eventStream = false;
  for (const [name, value] of headers) {
    const n = name.toLowerCase();
    if (n === "content-type") eventStream = contentTypeIsEventStream(value);
    else if (n === "content-encoding" && value.trim().toLowerCase() !== "identity") return false;
  }
  return eventStream;
}

function contentTypeIsEventStream(value: string): boolean {
  const semi = value.indexOf(";");
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase() === "text/event-stream";
}
