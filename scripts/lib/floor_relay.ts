/**
 * The least a Deno CONNECT relay can hold per idle tunnel: answer the CONNECT, dial, and
 * leave one pending `read` per direction with a one-byte buffer. `deno task bench tunnels`
 * measures it next to snoop, to show what the runtime costs and what snoop adds.
 *
 *   deno run --allow-net scripts/lib/floor_relay.ts <listen port> <upstream port>
 */
const [listenPort, upstreamPort] = Deno.args.map(Number);
const ok = new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n");

async function pump(from: Deno.Conn, to: Deno.Conn) {
  const buf = new Uint8Array(1);
  try {
    for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
      await to.write(buf.subarray(0, n));
    }
  } catch { /* reset: the tunnel ends */ }
  for (const c of [from, to]) {
    try {
      c.close();
    } catch { /* closed by the other pump */ }
  }
}

for await (const client of Deno.listen({ hostname: "127.0.0.1", port: listenPort })) {
  (async () => {
    await client.read(new Uint8Array(512)); // the CONNECT head (one read is enough here)
    const upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
    await client.write(ok);
    pump(client, upstream);
    pump(upstream, client);
  })().catch(() => client.close());
}
