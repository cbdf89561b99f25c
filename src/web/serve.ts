import { log } from "../util/log.ts";

/**
 * `Deno.serve` on `hostname:port`, resolved once it listens, with the address it got (port 0
 * picks one). Stopped through `signal`.
 */
export async function serveHttp(
  hostname: string,
  port: number,
  signal: AbortSignal,
  handler: Deno.ServeHandler,
): Promise<{ server: Deno.HttpServer; addr: Deno.NetAddr }> {
  let listening!: (a: Deno.NetAddr) => void;
  const ready = new Promise<Deno.NetAddr>((r) => listening = r);
  const server = Deno.serve({
    hostname,
    port,
    signal,
    onListen: (a) => listening(a as Deno.NetAddr),
    onError,
  }, handler);
  return { server, addr: await ready };
}

/**
 * A handler that threw (a bug): a bare 500, and one log line without query strings, which
 * may hold the access token (`?token=`), instead of the runtime's stack trace on stderr.
 */
function onError(error: unknown): Response {
  const message = (error instanceof Error ? error.message : String(error))
    .replace(/\?[^\s'"]*/g, "?…");
  log.error("web request failed", { error: message });
  return new Response(JSON.stringify({ error: "internal error" }), {
    status: 500,
    headers: { "content-type": "application/json" },
  });
}
