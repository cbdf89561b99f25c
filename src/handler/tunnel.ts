import { closeQuietly, type Stream } from "../net/stream.ts";
import type { HandlerRecord } from "../record/record.ts";
import { relay } from "../relay/relay.ts";
import { type ConnContext, upstreamAddrs } from "../service/conn_context.ts";
import { TunnelSniffer } from "../sniff/tunnel_sniffer.ts";
import type { TunnelOptions } from "./tunnel_options.ts";

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
  upstream: Deno.Conn,
  record: HandlerRecord & { startMs: number },
  opts: TunnelOptions,
  /** The tunnel follows an HTTP 101 the handler forwarded: only WebSocket frames are read. */
  upgraded = false,
): Promise<void> {
  if (!upgraded) Object.assign(record, upstreamAddrs(upstream));
  const sniff = upgraded ? opts.websocket : opts.sniffing;
  // The tunnel ends on shutdown, or when the sniffer gives up on the upstream.
  const stop = new AbortController();
  const onShutdown = () => stop.abort();
  ctx.signal.addEventListener("abort", onShutdown, { once: true });
  const sniffer = sniff && ctx.sink.recording
    ? new TunnelSniffer(ctx, record, opts, upgraded, (reason) => {
      record.err ??= reason;
      stop.abort();
    })
    : undefined;
  try {
    const result = await relay(client, upstream, {
      idleTimeoutMs: opts.idleTimeoutMs,
      onClientData: sniffer?.onClientData,
      onServerData: sniffer?.onServerData,
      onTapError: (e) => ctx.log.debug("sniffer stopped", { sid: ctx.sid, error: e }),
      signal: stop.signal,
    });
    ctx.signal.removeEventListener("abort", onShutdown);
    record.inputBytes += result.inputBytes;
    record.outputBytes += result.outputBytes;
    if (result.idleTimedOut) record.err = "idle timeout";
    else if (result.error && !isBenignDisconnect(result.error)) record.err = result.error.message;
    if (sniffer) sniffer.finish(result);
    else ctx.emit(record);
  } finally {
    closeQuietly(client);
    closeQuietly(upstream);
  }
}
