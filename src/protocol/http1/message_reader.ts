import type { Stream } from "../../net/stream.ts";
import type { Http1Event, Http1Parser } from "./parser.ts";

/**
 * Read sizes: small while messages are small (a kept-alive connection waiting for its next
 * request holds its buffer), four times larger each time a read fills the buffer (bodies),
 * up to LARGE_READ, as the relay of tunnels grows. The buffer is replaced only when the
 * size changes. Large downloads through the forward proxy are faster with reads of up to
 * 256 KiB than with 16 or 64 KiB (`deno task bench compare` (b) measures it).
 */
const SMALL_READ = 4 * 1024;
const LARGE_READ = 256 * 1024;
/** The most a reader keeps between messages (`shrink`). */
export const IDLE_READ = 16 * 1024;

/**
 * Pulls HTTP/1 events from a stream: reads more bytes only when the parser needs them.
 * The views in an event are valid until the next call to `next`: the reader reads into one
 * buffer again and again (the parser copies what it has not consumed before each read).
 * A new Uint8Array is costly (a backing store and its sweeping), and a buffer per read,
 * plus a copy of small reads, was four of them per proxied request.
 */
export class MessageReader {
  #eof = false;
  #readSize = SMALL_READ;
  #buf: Uint8Array | null = null;

  constructor(readonly stream: Stream, readonly parser: Http1Parser) {}

  /** The next event, or null at end of stream. Throws `Http1ParseError` for bad input. */
  async next(): Promise<Http1Event | null> {
    for (;;) {
      const ev = this.parser.next();
      if (ev) return ev;
      if (this.#eof) return null;
      let buf = this.#buf;
      if (buf === null || buf.length !== this.#readSize) {
        buf = this.#buf = new Uint8Array(this.#readSize);
      }
      const n = await this.stream.read(buf);
      if (n === null) {
        this.#eof = true;
        this.parser.finish();
        continue;
      }
      this.#readSize = n === buf.length
        ? Math.min(n * 4, LARGE_READ)
        : n < SMALL_READ / 2
        ? SMALL_READ
        : this.#readSize;
      this.parser.push(buf.subarray(0, n));
    }
  }

  /**
   * Lets the read buffer go until the next read: for a reader that stays referenced but
   * reads no more for a while (a CONNECT tunnel's, for the tunnel's life).
   */
  release(): void {
    this.#buf = null;
  }

  /**
   * Between messages: a buffer grown past IDLE_READ for a large body goes, and reads start
   * again at IDLE_READ, so an idle kept-alive connection holds no more than it did before
   * bodies were read in larger reads (256 KiB per idle client after an upload would add up).
   * Views of earlier events stay valid: they keep their own buffer.
   */
  shrink(): void {
    if (this.#readSize > IDLE_READ) this.#readSize = IDLE_READ;
    if (this.#buf !== null && this.#buf.length > IDLE_READ) this.#buf = null;
  }

  /** True once the stream ended. */
  get ended(): boolean {
    return this.#eof;
  }
}
