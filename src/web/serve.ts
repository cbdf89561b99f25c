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
  }, handler);
  return { server, addr: await ready };
}
