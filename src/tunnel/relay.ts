import { closeQuietly, type Stream, writeAll } from "../net/stream.ts";
import { type Deadline, deadline } from "../util/deadlines.ts";

/** Sees a copy of the bytes going one way. The view is valid only during the call. */
export type Tap = (chunk: Uint8Array) => void;

export interface RelayOptions {
  /** Close both sides after this long with no byte in either direction (0 = never). */
  idleTimeoutMs?: number;
  /** Bytes read from the client, seen after the write to the server has started. */
  onClientData?: Tap;
  /** Bytes read from the server, seen after the write to the client has started. */
  onServerData?: Tap;
  /** A tap that throws is switched off and reported here; the relay goes on. */
  onTapError?: (error: unknown) => void;
  /** Aborting closes both sides (used at shutdown). */
  signal?: AbortSignal;
}

export interface RelayResult {
  /** Bytes read from the client. */
  inputBytes: number;
  /** Bytes written to the client. */
  outputBytes: number;
  /** The first error that ended the relay early, if any (EOF on both sides is not an error). */
  error?: Error;
  /** Which connection that error came from (a read from it or a write to it failed). */
  errorSide?: "client" | "server";
  idleTimedOut: boolean;
  /**
   * The server's bytes read since the client's last, when there are at most
   * `SERVER_TAIL_MAX` of them (null when more): what was on its way to a client that then
   * reset. A TLS closure alert alone there is the end of a finished connection.
   */
  serverTail?: Uint8Array | null;
}

/** The most bytes `serverTail` keeps: a few TLS closure alerts. */
export const SERVER_TAIL_MAX = 64;

/**
 * Per-direction copy buffer: it starts small, so an idle tunnel holds little (two per
 * tunnel, waiting in `read`); it grows 4× whenever a read
 * fills it, up to 256 KiB, so bulk transfers reach large reads within a few of them
 * (2, 8, 32, 128, 256 KiB); and it shrinks 4× when a read uses less than a sixteenth of it,
 * so a tunnel that moved a burst and went quiet gives the memory back.
 * `deno task bench relay` measures it.
 */
export const RELAY_BUFFER_SIZE = 512;
export const RELAY_BUFFER_MAX = 256 * 1024;

/**
 * Copies bytes both ways until both sides have ended, with half-close: when one side sends
 * FIN the other side's write half is closed and the opposite direction keeps flowing.
 * Closes both streams when done. This loop is the hot path of every tunnel: it uses plain
 * `read`/`write` on one reused buffer per direction (measured faster than `pipeTo`) and the
 * taps parse a copy synchronously, so a sniffer never delays or reorders bytes.
 */
export async function relay(
  client: Stream,
  server: Stream,
  opts: RelayOptions = {},
): Promise<RelayResult> {
  const result: RelayResult = { inputBytes: 0, outputBytes: 0, idleTimedOut: false };
  let activity = 0;
  let finished = false;
  const abortBoth = (error?: Error, side?: "client" | "server") => {
    if (error && !result.error) {
      result.error = error;
      result.errorSide = side;
    }
    closeQuietly(client);
    closeQuietly(server);
  };

  let idleCheck: Deadline | undefined;
  const idleMs = opts.idleTimeoutMs ?? 0;
  if (idleMs > 0) {
    // One deadline per relay, not one per chunk: each check sees whether any byte moved
    // since the previous one, so a tunnel closes after one to two idle periods of silence.
    // A shared-timer deadline, not a setInterval: ~1.2 KB less RSS per idle tunnel.
    let seen = -1;
    const check = () => {
      if (finished) return;
      if (activity === seen) {
        result.idleTimedOut = true;
        abortBoth(new Error("idle timeout"));
        return;
      }
      seen = activity;
      idleCheck = deadline(idleMs, check);
    };
    idleCheck = deadline(idleMs, check);
  }
  const onAbort = () => abortBoth(new Error("aborted"));
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  let tail: Uint8Array | null = new Uint8Array(0);
  const noteTail = (side: "client" | "server", chunk: Uint8Array) => {
    if (side === "client") tail = tail?.length === 0 ? tail : new Uint8Array(0);
    else if (tail) {
      if (tail.length + chunk.length > SERVER_TAIL_MAX) tail = null;
      else {
        const grown = new Uint8Array(tail.length + chunk.length);
        grown.set(tail);
        grown.set(chunk, tail.length);
        tail = grown;
      }
    }
  };

  const taps = { client: opts.onClientData, server: opts.onServerData };
  const callTap = (side: "client" | "server", chunk: Uint8Array) => {
    const tap = taps[side];
    if (!tap) return;
    try {
      tap(chunk);
    } catch (e) {
      taps[side] = undefined;
      opts.onTapError?.(e);
    }
  };

  const pump = async (src: Stream, dst: Stream, side: "client" | "server") => {
    let buf = new Uint8Array(RELAY_BUFFER_SIZE);
    let failing: "client" | "server" = side;
    try {
      for (;;) {
        failing = side;
        const n = await src.read(buf);
        if (n === null) break;
        activity++;
        const chunk = buf.subarray(0, n);
        noteTail(side, chunk);
        // The chunk keeps the old buffer alive until it is written; the next read uses the
        // new one.
        if (n === buf.length && buf.length < RELAY_BUFFER_MAX) {
          buf = new Uint8Array(buf.length * 4); // the reader had more: read bigger next time
        } else if (n < buf.length / 16 && buf.length > RELAY_BUFFER_SIZE) {
          buf = new Uint8Array(buf.length / 4);
        }
        failing = side === "client" ? "server" : "client";
        const written = writeAll(dst, chunk);
        callTap(side, chunk);
        await written;
        if (side === "client") result.inputBytes += n;
        else result.outputBytes += n;
      }
      await dst.closeWrite().catch(() => {});
    } catch (e) {
      if (!finished) abortBoth(e instanceof Error ? e : new Error(String(e)), failing);
    }
  };

  try {
    await Promise.all([pump(client, server, "client"), pump(server, client, "server")]);
  } finally {
    finished = true;
    idleCheck?.cancel();
    opts.signal?.removeEventListener("abort", onAbort);
    closeQuietly(client);
    closeQuietly(server);
  }
  result.serverTail = tail;
  return result;
}
