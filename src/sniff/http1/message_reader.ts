import type { Stream } from "../../net/stream.ts";
import type { Http1Event, Http1Parser } from "./parser.ts";

const READ_SIZE = 16 * 1024;

/**
 * Pulls HTTP/1 events from a stream: reads more bytes only when the parser needs them.
 * The views in an event are valid until the next call to `next`.
 */
export class MessageReader {
  #eof = false;

  constructor(readonly stream: Stream, readonly parser: Http1Parser) {}

  /** The next event, or null at end of stream. Throws `Http1ParseError` for bad input. */
  async next(): Promise<Http1Event | null> {
    for (;;) {
      const ev = this.parser.next();
      if (ev) return ev;
      if (this.#eof) return null;
      // A buffer per read, not per reader: a reader stays referenced for a tunnel's whole
      // life (CONNECT), and 16 KiB held by each idle tunnel adds up (bench compare, (e)).
      const buf = new Uint8Array(READ_SIZE);
      const n = await this.stream.read(buf);
      if (n === null) {
        this.#eof = true;
        this.parser.finish();
        continue;
      }
      // Events are views of what was read; a small read (a CONNECT head, say) is copied out
      // so that a view kept for a tunnel's life does not keep the whole 16 KiB alive.
      this.parser.push(n < READ_SIZE / 4 ? buf.slice(0, n) : buf.subarray(0, n));
    }
  }

  /** True once the stream ended. */
  get ended(): boolean {
    return this.#eof;
  }
}
