/**
 * The byte stream every handler works on. `Deno.Conn`, `Deno.TlsConn` and snoop's own
 * wrappers (a buffered connection, a TLS socket adapter) all fit it.
 */
export interface Stream {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  /** Sends FIN: the peer sees end of stream while we can still read. */
  closeWrite(): Promise<void>;
  close(): void;
  readonly localAddr: Deno.Addr;
  readonly remoteAddr: Deno.Addr;
}

/**
 * Writes every byte of `p` (a single `write` may take only part of it). Most writes take
 * everything at once: the first is chained, not awaited in an async function, which spares
 * a frame and a promise per write (two writes per proxied request).
 */
export function writeAll(w: Pick<Stream, "write">, p: Uint8Array): Promise<void> {
  if (p.length === 0) return Promise.resolve();
  return w.write(p).then((n) => n < p.length ? writeRest(w, p, n) : undefined);
}

async function writeRest(w: Pick<Stream, "write">, p: Uint8Array, off: number): Promise<void> {
  while (off < p.length) off += await w.write(p.subarray(off));
}

/**
 * Streams `closeQuietly` closed. A connection on its way out is closed by each layer that
 * held it (the relay, the tunnel, the handler, the service): each close after the first made
 * the runtime build a BadResource error, stack trace and all, which was about a third of the
 * CPU of closing a tunnel (a CPU profile of 3,000 idle tunnels closing).
 */
const closed = new WeakSet<object>();

/** Closes a stream once, ignoring "already closed". */
export function closeQuietly(s: { close(): void } | undefined | null): void {
  if (!s || closed.has(s)) return;
  closed.add(s);
  try {
    s.close();
  } catch {
    // Closed some other way.
  }
}
