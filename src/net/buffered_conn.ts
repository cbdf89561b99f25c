import { deadline } from "../util/deadlines.ts";
import { closeQuietly, type Stream } from "./stream.ts";

/** Raised when a peer closes before a length-prefixed structure is complete. */
export class UnexpectedEof extends Error {
  constructor(what: string) {
    super(`unexpected EOF while reading ${what}`);
    this.name = "UnexpectedEof";
  }
}

/** Raised when a read does not complete before its deadline. */
export class ReadTimeout extends Error {
  constructor(what: string) {
    super(`timeout while reading ${what}`);
    this.name = "ReadTimeout";
  }
}

/**
 * A stream with a put-back buffer: handshakes read what they need, and bytes read ahead
 * (a pipelined request, the first bytes of a tunnel) are handed back with `unread` so the
 * next reader, usually the relay, sees them first. Nothing read is ever lost.
 */
export class BufferedConn implements Stream {
  #pending: Uint8Array = new Uint8Array(0);
  /** A `fill` whose caller stopped waiting (a deadline): the next read takes its bytes. */
  #inflight: Promise<boolean> | null = null;

  constructor(readonly inner: Stream) {}

  get localAddr(): Deno.Addr {
    return this.inner.localAddr;
  }
  get remoteAddr(): Deno.Addr {
    return this.inner.remoteAddr;
  }

  /** Bytes buffered and not yet consumed. */
  get buffered(): number {
    return this.#pending.length;
  }

  /** Puts bytes back in front of the stream. */
  unread(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#pending.length === 0) {
      this.#pending = bytes.slice();
      return;
    }
    const merged = new Uint8Array(bytes.length + this.#pending.length);
    merged.set(bytes);
    merged.set(this.#pending, bytes.length);
    this.#pending = merged;
  }

  /** Takes everything buffered (possibly empty). */
  takeBuffered(): Uint8Array {
    const out = this.#pending;
    this.#pending = new Uint8Array(0);
    return out;
  }

  read(p: Uint8Array): Promise<number | null> {
    // Nothing buffered (the usual case once handshakes are done): the inner read itself,
    // without an async frame and a promise around it per read.
    if (!this.#inflight && this.#pending.length === 0) return this.inner.read(p);
    return this.#readBuffered(p);
  }

  async #readBuffered(p: Uint8Array): Promise<number | null> {
    if (this.#inflight) await this.#inflight.catch(() => false);
    if (this.#pending.length > 0) {
      const n = Math.min(p.length, this.#pending.length);
      p.set(this.#pending.subarray(0, n));
      this.#pending = this.#pending.subarray(n);
      return n;
    }
    return await this.inner.read(p);
  }

  /** Reads one chunk into the buffer; false on EOF. */
  fill(): Promise<boolean> {
    if (this.#inflight) return this.#inflight;
    // Allocated per fill: handshakes fill a few times, then the relay reads the connection
    // for the rest of its life; a kept scratch buffer would be 16 KiB per idle tunnel.
    const scratch = new Uint8Array(16 * 1024);
    const reading = this.inner.read(scratch).then((n) => {
      if (n === null) return false;
      const merged = new Uint8Array(this.#pending.length + n);
      merged.set(this.#pending);
      merged.set(scratch.subarray(0, n), this.#pending.length);
      this.#pending = merged;
      return true;
    }).finally(() => {
      this.#inflight = null;
    });
    this.#inflight = reading;
    return reading;
  }

  /** Ensures at least `n` bytes are buffered and returns a view of them (not consumed). */
  async peek(n: number, what = "data"): Promise<Uint8Array> {
    while (this.#pending.length < n) {
      if (!(await this.fill())) throw new UnexpectedEof(what);
    }
    return this.#pending.subarray(0, n);
  }

  /** Reads exactly `n` bytes. */
  async readExact(n: number, what = "data"): Promise<Uint8Array> {
    const view = await this.peek(n, what);
    const out = view.slice();
    this.#pending = this.#pending.subarray(n);
    return out;
  }

  /** Drops `n` already-buffered bytes. */
  consume(n: number): void {
    this.#pending = this.#pending.subarray(n);
  }

  /** A view of everything buffered now (not consumed). */
  view(): Uint8Array {
    return this.#pending;
  }

  write(p: Uint8Array): Promise<number> {
    return this.inner.write(p);
  }
  closeWrite(): Promise<void> {
    return this.inner.closeWrite();
  }
  close(): void {
    closeQuietly(this.inner);
  }
}

/**
 * Runs `op` with a deadline: when it passes, `onTimeout` is called (usually closing the
 * connection, which makes the pending read fail) and a `ReadTimeout` is thrown.
 */
export async function withDeadline<T>(
  ms: number,
  what: string,
  op: () => Promise<T>,
  onTimeout: () => void,
): Promise<T> {
  if (!(ms > 0)) return await op();
  let timedOut = false;
  const timer = deadline(ms, () => {
    timedOut = true;
    onTimeout();
  });
  try {
    return await op();
  } catch (e) {
    if (timedOut) throw new ReadTimeout(what);
    throw e;
  } finally {
    timer.cancel();
  }
}
