import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import dnsPacket from "dns-packet";

/**
 * A small authoritative DNS server for tests, on UDP and TCP at the same loopback port:
 * `<name> A` is answered from `zone`, anything else with NXDOMAIN. `queries` counts what
 * arrived. Loopback addresses only, so no answer points anywhere real.
 */
export async function startDnsServer(zone: Record<string, string>) {
  // The UDP port is picked by the system; TCP on the same number may be taken: pick again.
  let udp: dgram.Socket, tcp: Deno.TcpListener | undefined, port = 0;
  for (let attempt = 0;; attempt++) {
    udp = dgram.createSocket("udp4");
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
    port = udp.address().port;
    try {
      tcp = Deno.listen({ hostname: "127.0.0.1", port });
      break;
    } catch (e) {
      udp.close();
      if (!(e instanceof Deno.errors.AddrInUse) || attempt === 20) throw e;
    }
  }
  const queries: string[] = [];
  const answer = (msg: Uint8Array): Uint8Array => {
    const q = dnsPacket.decode(Buffer.from(msg));
    const name = q.questions?.[0]?.name ?? "";
    queries.push(name);
    const ip = zone[name];
    return new Uint8Array(dnsPacket.encode({
      type: "response",
      id: q.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (ip ? 0 : 3),
      questions: q.questions,
      answers: ip ? [{ type: "A", name, ttl: 60, data: ip }] : [],
    }));
  };
  udp.on("message", (msg: Buffer, from: dgram.RemoteInfo) => {
    udp.send(answer(new Uint8Array(msg)), from.port, from.address);
  });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of tcp) {
      conns.add(conn);
      (async () => {
        const buf = new Uint8Array(4096);
        let have = new Uint8Array(0);
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          have = new Uint8Array([...have, ...buf.subarray(0, n)]);
          while (have.length >= 2 && have.length >= 2 + ((have[0] << 8) | have[1])) {
            const len = (have[0] << 8) | have[1];
            const reply = answer(have.subarray(2, 2 + len));
            have = have.slice(2 + len);
            await conn.write(new Uint8Array([reply.length >> 8, reply.length & 0xff, ...reply]))
              .catch(() => {});
          }
        }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
  return {
    port,
    queries,
    async close() {
      udp.close();
      tcp.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving.catch(() => {});
    },
  };
}
