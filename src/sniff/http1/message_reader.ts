import type { Stream } from "../../net/stream.ts";
import type { Http1Event, Http1Parser } from "./parser.ts";

/**
 * Pulls HTTP/1 events from a stream: reads more bytes only when the parser needs them.
 * The views in an event are valid until the next call to `next`.
 */
export class MessageReader {
  readonly #buf = new Uint8Array(16 * 1024);
  #eof = false;

  constructor(readonly stream: Stream, readonly parser: Http1Parser) {}

  /** The next event, or null at end of stream. Throws `Http1ParseError` for bad input. */
  async next(): Promise<Http1Event | null> {
    for (;;) {
      const ev = this.parser.next();
      if (ev) return ev;
      if (this.#eof) return null;
      const n = await this.stream.read(this.#buf);
      if (n === null) {
        this.#eof = true;
        this.parser.finish();
        continue;
      }
      this.parser.push(this.#buf.subarray(0, n));
    }
  }

  /** True once the stream ended. */
  get ended(): boolean {
    return this.#eof;
  }
}
