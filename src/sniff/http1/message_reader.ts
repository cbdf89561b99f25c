import type { Stream } from "../../net/stream.ts";
import type { Http1Event, Http1Parser } from "./parser.ts";

/**
 * Read sizes: small while messages are small (allocating a zeroed 16 KiB per read showed in
 * `next`'s self time, ~6% of a CPU profile under bench compare (a)), large once a read fills
 * the buffer (bodies).
 */
const SMALL_READ = 4 * 1024;
const LARGE_READ = 16 * 1024;

/**
 * Pulls HTTP/1 events from a stream: reads more bytes only when the parser needs them.
 * The views in an event are valid until the next call to `next`.
 */
export class MessageReader {
  #eof = false;
  #readSize = SMALL_READ;

  constructor(readonly stream: Stream, readonly parser: Http1Parser) {}

  /** The next event, or null at end of stream. Throws `Http1ParseError` for bad input. */
  async next(): Promise<Http1Event | null> {
    for (;;) {
      const ev = this.parser.next();
      if (ev) return ev;
      if (this.#eof) return null;
      // A buffer per read, not per reader: a reader stays referenced for a tunnel's whole
      // life (CONNECT), and 16 KiB held by each idle tunnel adds up (bench compare, (e)).
      const buf = new Uint8Array(this.#readSize);
      const n = await this.stream.read(buf);
      if (n === null) {
        this.#eof = true;
        this.parser.finish();
        continue;
      }
      this.#readSize = n === buf.length
        ? LARGE_READ
        : n < SMALL_READ / 2
        ? SMALL_READ
        : this.#readSize;
      // Events are views of what was read; a small read (a CONNECT head, say) is copied out
      // so that a view kept for a tunnel's life does not keep the whole buffer alive.
      this.parser.push(n < buf.length / 4 ? buf.slice(0, n) : buf.subarray(0, n));
    }
  }

  /** True once the stream ended. */
  get ended(): boolean {
    return this.#eof;
  }
}
