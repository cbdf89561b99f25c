/**
 * The least a Deno proxy does: accept, read the first request line for the host:port it
 * names, dial it, copy bytes both ways with a read/write loop per direction. A CONNECT is
 * answered (200) and the tunnel follows; an absolute-URI request (wrk's, curl's) goes to the
 * origin as it came, which nginx serves, and so do the requests after it on that connection.
 * It parses no heads, pools nothing and records nothing, so it shows what the runtime itself
 * costs next to what snoop adds:
 * - `bench tunnels`: one pending 1-byte read per direction, the least an idle tunnel holds;
 * - `bench compare` (a) and (b): reads of 16 KiB that grow fourfold while they come back
 *   full, up to 256 KiB, as snoop's relay grows. (256 KiB from the start raised the p99 of
 *   (a)'s small responses: each wrk run opens new connections, each with large buffers.)
 *
 *   deno run --allow-net scripts/lib/floor_relay.ts <listen port> [largest read, default 1]
 */
const [listenPort, largestRead = 1] = Deno.args.map(Number);
const FIRST_READ = Math.min(largestRead, 16 * 1024);
const ok = new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n");

async function pump(from: Deno.Conn, to: Deno.Conn) {
  let buf = new Uint8Array(FIRST_READ);
  try {
    for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
      for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
      if (n === buf.length && n < largestRead) buf = new Uint8Array(Math.min(n * 4, largestRead));
    }
  } catch { /* reset: the connection ends */ }
  for (const c of [from, to]) {
    try {
      c.close();
    } catch { /* closed by the other pump */ }
  }
}

/** `CONNECT host:port HTTP/1.1` or `GET http://host[:port]/… HTTP/1.1`: what to dial. */
function targetOf(requestLine: string): { connect: boolean; hostname: string; port: number } {
  const [method, target] = requestLine.split(" ");
  const connect = method === "CONNECT";
  const { hostname, port } = new URL(connect ? `tcp://${target}` : target);
  return { connect, hostname, port: Number(port || 80) };
}

for await (const client of Deno.listen({ hostname: "127.0.0.1", port: listenPort })) {
  (async () => {
    client.setNoDelay(true);
    // One read holds a CONNECT head or a whole GET here: the clients wait for an answer.
    const head = new Uint8Array(4096);
    const n = await client.read(head);
    if (n === null) return client.close();
    const first = head.subarray(0, n);
    const line = new TextDecoder().decode(first.subarray(0, first.indexOf(13)));
    const { connect, hostname, port } = targetOf(line);
    const upstream = await Deno.connect({ hostname, port });
    upstream.setNoDelay(true);
    if (connect) await client.write(ok);
    else for (let off = 0; off < n;) off += await upstream.write(first.subarray(off));
    pump(client, upstream);
    pump(upstream, client);
  })().catch(() => client.close());
}
