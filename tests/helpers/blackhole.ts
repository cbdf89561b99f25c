/**
 * A listener whose accept queue is full: Linux then drops further SYNs, so a connect hangs
 * until the dialler's deadline (the loopback stand-in for an unreachable host).
 */
export async function blackhole(): Promise<{ port: number; close(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const queued: Deno.Conn[] = [];
  for (let i = 0; i < 4096; i++) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const attempt = Deno.connect({ hostname: "127.0.0.1", port });
    const r = await Promise.race([
      attempt,
      new Promise<"full">((ok) => timer = setTimeout(() => ok("full"), 200)),
    ]);
    clearTimeout(timer);
    if (r === "full") {
      attempt.then((c) => c.close(), () => {});
      break;
    }
    queued.push(r);
  }
  return {
    port,
    close() {
      for (const c of queued) c.close();
      listener.close();
    },
  };
}
