import { BufferedConn } from "../net/buffered_conn.ts";
import { closeQuietly, type Stream } from "../net/stream.ts";
import { MitmError } from "../mitm/mitm_error.ts";
import { detectProtocol } from "../protocol/detect.ts";
import { type ClientHello, newClientHelloReader } from "../protocol/tls/hello.ts";
import type { HandlerRecord } from "../record/record.ts";
import { relay } from "../tunnel/relay.ts";
import { type ConnContext, upstreamAddrs } from "../tunnel/conn_context.ts";
import { TunnelSniffer } from "../tunnel/tunnel_sniffer.ts";
import { countingInterim } from "../tunnel/interim.ts";
import type { TunnelOptions } from "../tunnel/tunnel_options.ts";

/** Errors that are how TCP peers usually hang up, not failures worth an `err`. */
export function isBenignDisconnect(e: unknown): boolean {
  return e instanceof Deno.errors.ConnectionReset ||
    e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.BadResource ||
    e instanceof Deno.errors.Interrupted ||
    (e instanceof Error && e.message === "aborted");
}

/**
 * Relays an established tunnel (CONNECT, SOCKS, port forwarding) and reports it: with
 * sniffing on, the sniffer reads a copy of both directions and turns it into per-request
 * (HTTP) or per-connection (TLS, other) records; without, one record for the connection.
 */
export async function runTunnel(
  ctx: ConnContext,
  client: Stream,
  upstream: Deno.Conn | Stream,
  record: HandlerRecord & { startMs: number },
  opts: TunnelOptions,
  /** The tunnel follows an HTTP 101 the handler forwarded: only WebSocket frames are read. */
  upgraded = false,
): Promise<void> {
  if (!upgraded) Object.assign(record, upstreamAddrs(upstream as Deno.Conn));
  if (opts.mitm && opts.sniffing && !upgraded) {
    // Interception needs the whole ClientHello before any byte goes upstream.
    const buffered = client instanceof BufferedConn ? client : new BufferedConn(client);
    const hello = await readClientHello(buffered, opts.sniffTimeoutMs);
    const host = hello?.hello.serverName ? `${hello.hello.serverName}:443` : record.host;
    if (hello && opts.mitm.shouldIntercept(host, hello.hello)) {
      record.proto = "tls";
      try {
        const s = await opts.mitm.intercept(
          buffered,
          upstream,
          hello.hello,
          hello.raw,
          record.host,
        );
        record.tls = s.tls;
        const round = (v: number) => Math.round(v * 1000) / 1000;
        record.timings = {
          dns: record.timings?.dns ?? 0,
          connect: record.timings?.connect ?? 0,
          tls: round(s.handshakeMs.upstream),
          tlsClient: round(s.handshakeMs.client),
        };
        client = s.client;
        upstream = s.upstream;
      } catch (e) {
        if (!(e instanceof MitmError)) throw e;
        record.tls = { ...emptyTls(), ...e.tls };
        record.err = e.message;
        if (e.limit) ctx.sink.limited(e.limit);
        ctx.log.debug("interception failed", { sid: ctx.sid, error: e.message });
        ctx.emit(record);
        closeQuietly(buffered);
        closeQuietly(upstream);
        return;
      }
    } else client = buffered;
  }
  const sniff = upgraded ? opts.websocket : opts.sniffing;
  // The tunnel ends on shutdown, or when the sniffer gives up on the upstream.
  const stop = new AbortController();
  const cancelOnShutdown = ctx.shutdown.onShutdown(() => stop.abort());
  const sniffing = sniff && ctx.sink.recording;
  const sniffer = sniffing
    ? new TunnelSniffer(ctx, record, opts, upgraded, (reason) => {
      record.err ??= reason;
      stop.abort();
    })
    : undefined;
  // Interim records of a tunnel that is not sniffed (a sniffer makes its own).
  const counting = !sniffer && opts.intervalMs > 0 && ctx.sink.recording
    ? countingInterim(ctx.sink, record, opts.intervalMs)
    : undefined;
  try {
    const result = await relay(client, upstream, {
      idleTimeoutMs: opts.idleTimeoutMs,
      onClientData: sniffer?.onClientData ?? counting?.onClientData,
      onServerData: sniffer?.onServerData ?? counting?.onServerData,
      onTapError: (e) => ctx.log.debug("sniffer stopped", { sid: ctx.sid, error: e }),
      signal: stop.signal,
    });
    record.inputBytes += result.inputBytes;
    record.outputBytes += result.outputBytes;
    if (result.idleTimedOut) {
      record.err = "idle timeout";
      ctx.sink.limited("tunnel-idle");
    } else if (
      result.error instanceof Deno.errors.ConnectionReset ||
      result.error instanceof Deno.errors.BrokenPipe
    ) {
      // A side went away (a reset, or a close) while bytes were still on their way to it:
      // not the clean end of a tunnel. (Deno reads a reset as EOF; the next write fails.)
      const side = result.errorSide === "server" ? "upstream" : "client";
      // A TLS client that sends its close_notify and closes at once is reset by its own
      // kernel when the server's close_notify reaches it; the reset can overtake its FIN.
      // Only that alert was lost: the connection ended as both sides meant.
      if (side === "upstream" || !onlyTlsClosure(result.serverTail)) {
        record.err = `${side} closed the connection with data in flight`;
      }
    } else if (result.error && !isBenignDisconnect(result.error)) record.err = result.error.message;
    // A sniffer reports the tunnel itself, and counts a limit that stopped it (HTTP/2
    // floods, header blocks, frame sizes).
    if (sniffer) sniffer.finish(result);
    else ctx.emit(record);
  } finally {
    cancelOnShutdown();
    counting?.stop();
    closeQuietly(client);
    closeQuietly(upstream);
  }
}

function emptyTls() {
  return {
    serverName: "",
    cipherSuite: "",
    compressionMethod: 0,
    proto: "",
    version: "",
    clientHello: "",
    serverHello: "",
  };
}

/**
 * Reads (without consuming) the client's first bytes until they are a complete
 * ClientHello; null when they are not TLS, the hello is invalid, or the client says
 * nothing within `timeoutMs` (the bytes then flow as they are).
 */
async function readClientHello(
  conn: BufferedConn,
  timeoutMs: number,
): Promise<{ hello: ClientHello; raw: Uint8Array } | null> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const seen = conn.view();
    const proto = detectProtocol(seen);
    if (proto !== null && proto !== "tls") return null;
    if (proto === "tls") {
      const r = newClientHelloReader().push(seen);
      if (r.status === "done") return { hello: r.hello, raw: r.raw };
      if (r.status === "invalid") return null;
    }
    const left = deadline - performance.now();
    if (left <= 0) return null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const more = await Promise.race([
      conn.fill().catch(() => false),
      new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left)),
    ]);
    clearTimeout(timer);
    if (more !== true) return null;
  }
}

/**
 * Whether `bytes` are one or more whole TLS records that can only be closure alerts: an
 * alert record (type 21: TLS 1.2 and before show the type) short enough to hold one
 * encrypted two-byte alert, or a TLS 1.3 record of 19 bytes (the alert, its inner type and
 * a 16-byte AEAD tag) behind the application-data type all TLS 1.3 records show.
 */
export function onlyTlsClosure(bytes: Uint8Array | null | undefined): boolean {
  if (!bytes || bytes.length === 0) return false;
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 5 || bytes[at + 1] !== 3) return false;
    const type = bytes[at], len = (bytes[at + 3] << 8) | bytes[at + 4];
    if (!((type === 21 && len >= 2 && len <= 48) || (type === 23 && len === 19))) return false;
    at += 5 + len;
  }
  return at === bytes.length;
}
