/**
 * Accepts connections and holds them open, sending nothing; closes each when its peer does
 * (so a proxy's half-closed tunnel ends). The far end of the idle tunnels in
 * `bench compare` (e) and `bench tunnels`; its own process (started with a raised
 * descriptor limit), so 10,000 held connections do not count against the harness.
 *
 *   deno run --allow-net scripts/lib/tcp_holder.ts <port>
 */
async function hold(conn: Deno.Conn) {
  const sink = new Uint8Array(1);
  try {
    while ((await conn.read(sink)) !== null) { /* idle tunnels send nothing */ }
  } catch { /* reset */ }
  conn.close();
}

for await (const conn of Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0]) })) {
  hold(conn);
}
