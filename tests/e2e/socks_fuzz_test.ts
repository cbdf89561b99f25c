import assert from "node:assert/strict";
import fc from "fast-check";
import { startOrigin, startSnoop, until } from "../helpers/harness.ts";
import { mutated } from "../../scripts/lib/fuzz_properties.ts";

/**
 * SOCKS4/4a/5 handshakes (RFC 1928, 1929), valid and mutated, sent to a real listener: every
 * one is answered or closed within the handshake deadline, none ends in an unexpected
 * exception, and the listener keeps serving. A whitelist bypass admits only the test origin,
 * so no mutated address is ever dialled or looked up.
 */
const CASES = Number(Deno.env.get("SNOOP_FUZZ_SOCKS_CASES") ?? 120);

Deno.test({
  name: "fuzz: mutated SOCKS handshakes are answered or closed, never crash, never leak",
  async fn() {
    const origin = await startOrigin();
    const snoop = await startSnoop(`
services:
  - name: socks
    addr: 127.0.0.1:0
    bypass: only-origin
    handler:
      type: auto
      auth: { username: u, password: p }
      metadata: { handshakeTimeout: 300ms, headerTimeout: 300ms }
bypasses:
  - { name: only-origin, whitelist: true, matchers: ["127.0.0.1:${origin.port}"] }
`);
    const p = origin.port;
    const ip = [127, 0, 0, 1];
    const corpus = [
      // SOCKS5: methods (no auth, user/pass), RFC 1929 auth, CONNECT IPv4.
      Uint8Array.of(5, 2, 0, 2, 1, 1, 117, 1, 112, 5, 1, 0, 1, ...ip, p >> 8, p & 255),
      // SOCKS5 CONNECT by name (ATYP 3), and UDP ASSOCIATE.
      Uint8Array.of(
        5,
        1,
        2,
        1,
        1,
        117,
        1,
        112,
        5,
        1,
        0,
        3,
        9,
        ...new TextEncoder().encode("127.0.0.1"),
        p >> 8,
        p & 255,
      ),
      Uint8Array.of(5, 1, 2, 1, 1, 117, 1, 112, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0),
      // SOCKS4 and SOCKS4a CONNECT with the user id.
      Uint8Array.of(4, 1, p >> 8, p & 255, ...ip, 117, 0),
      Uint8Array.of(
        4,
        1,
        p >> 8,
        p & 255,
        0,
        0,
        0,
        1,
        117,
        0,
        ...new TextEncoder().encode("localhost"),
        0,
      ),
    ];
    const inputs = fc.sample(mutated(corpus), { numRuns: CASES });
    const exchange = async (bytes: Uint8Array) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
      try {
        await conn.write(bytes).catch(() => {});
        // Answered or closed: read to EOF (the GET lets a granted tunnel finish).
        await conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n")).catch(() => {});
        const buf = new Uint8Array(4096);
        while ((await conn.read(buf).catch(() => null)) !== null) { /* drain */ }
      } finally {
        conn.close();
      }
    };
    try {
      for (let i = 0; i < inputs.length; i += 8) {
        await Promise.all(inputs.slice(i, i + 8).map(exchange));
      }
      await until(() => snoop.services[0].active === 0, "every fuzzed connection closed", 5000);
      assert.equal(snoop.services[0].handlerFailures, 0);
      // Still serving: a valid SOCKS5 CONNECT through it reaches the origin.
      const before = origin.requests.length;
      await exchange(corpus[0]);
      assert.equal(origin.requests.length, before + 1);
    } finally {
      await snoop.stop(0);
      await origin.close();
    }
  },
});
