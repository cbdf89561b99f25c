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

/** Writes every byte of `p` (a single `write` may take only part of it). */
export async function writeAll(w: Pick<Stream, "write">, p: Uint8Array): Promise<void> {
  let off = 0;
  while (off < p.length) off += await w.write(off === 0 ? p : p.subarray(off));
}

/** Closes a stream, ignoring "already closed". */
export function closeQuietly(s: { close(): void } | undefined | null): void {
  try {
    s?.close();
  } catch {
    // Already closed.
  }
}
