import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { closeQuietly, type Stream, writeAll } from "../net/stream.ts";

/**
 * Bridges between snoop's `Stream` (Deno connections) and node streams, so `node:tls` can
 * run TLS over a connection snoop already accepted, read from and sniffed.
 */

/** A node Duplex over a `Stream`; `onWrite` sees every byte written (to record a hello). */
export function streamToDuplex(stream: Stream, onWrite?: (chunk: Uint8Array) => void): Duplex {
  const buf = new Uint8Array(64 * 1024);
  return new Duplex({
    read() {
      stream.read(buf).then(
        (n) => this.push(n === null ? null : Buffer.from(buf.subarray(0, n))),
        () => this.push(null),
      );
    },
    write(chunk: Buffer, _enc, cb) {
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
      onWrite?.(bytes);
      writeAll(stream, bytes).then(() => cb(), (e) => cb(e));
    },
    final(cb) {
      stream.closeWrite().then(() => cb(), () => cb());
    },
    destroy(err, cb) {
      closeQuietly(stream);
      cb(err);
    },
  });
}

/**
 * A `Stream` over a node Duplex (a `TLSSocket`): reads are pulled from a small queue with
 * back-pressure (the socket pauses while the queue is full), writes resolve when node has
 * taken the bytes.
 */
export class DuplexStream implements Stream {
  #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(
    readonly socket: Duplex,
    readonly localAddr: Deno.Addr,
    readonly remoteAddr: Deno.Addr,
  ) {
    socket.on("data", (d: Buffer) => {
      this.#chunks.push(new Uint8Array(d.buffer, d.byteOffset, d.length));
      if (this.#chunks.length >= 16) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (e: Error) => {
      this.#error ??= e;
      this.#notify();
    });
  }

  #notify() {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#wake = r);
    }
    const head = this.#chunks[0];
    const n = Math.min(p.length, head.length);
    p.set(head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    if (this.#chunks.length < 4 && this.socket.isPaused()) this.socket.resume();
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    // node may hold on to the buffer after the callback in some paths: give it a copy.
    const copy = Buffer.from(p);
    return new Promise((resolve, reject) => {
      this.socket.write(copy, (err?: Error | null) => err ? reject(err) : resolve(p.length));
    });
  }

  /**
   * Ends our side. Resolves on finish, close or error: `end()`'s own callback never fires
   * when the socket is destroyed first (the peer went away), and a relay must not wait on it.
   */
  closeWrite(): Promise<void> {
    const s = this.socket;
    if (s.destroyed || s.writableEnded) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        s.off("finish", done);
        s.off("close", done);
        s.off("error", done);
        resolve();
      };
      s.once("finish", done);
      s.once("close", done);
      s.once("error", done);
      s.end();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
