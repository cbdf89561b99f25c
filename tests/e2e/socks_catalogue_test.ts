import assert from "node:assert/strict";
import { curl, startOrigin, startSnoop } from "../helpers/harness.ts";
import { blackhole } from "../helpers/blackhole.ts";

/**
 * reliability-limits §6.6 (SOCKS5, RFC 1928 / 1929), one named test per row, against a real
 * listener. Each row writes its bytes (a list of writes, optionally stalling after them),
 * reads until snoop closes, and compares everything it was sent.
 */

const enc = (s: string) => [...new TextEncoder().encode(s)];
const ip4 = (port: number) => [1, 127, 0, 0, 1, port >> 8, port & 0xff];
const failure = (rep: number) => [5, rep, 0, 1, 0, 0, 0, 0, 0, 0];
const GET = enc("GET /via-socks HTTP/1.0\r\n\r\n");

interface Row {
  service: "open" | "auth" | "auto" | "deny";
  writes: number[][];
  /** Close our sending side after the writes (EOF mid-handshake). */
  eof?: boolean;
  /** Exactly what comes back before snoop closes. */
  expect?: number[];
  /** Or: starts with this, and the rest (text) matches. */
  startsWith?: number[];
  rest?: RegExp;
}

async function talk(port: number, row: Row): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    for (const w of row.writes) {
      await conn.write(Uint8Array.from(w));
      if (row.writes.length > 1) await new Promise((r) => setTimeout(r, 5));
    }
    if (row.eof) await conn.closeWrite();
    const parts: number[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      parts.push(...buf.subarray(0, n));
    }
    return Uint8Array.from(parts);
  } finally {
    conn.close();
  }
}

const origin = await startOrigin();
const closedPort = (() => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
})();
const o = origin.port;
const request = (cmd: number, address: number[]) => [5, cmd, 0, ...address];
const connect = (address: number[]) => request(1, address);
const viaOrigin = { rest: /HTTP\/1\.[01] 200 [\s\S]*hello GET \/via-socks/ };

const ROWS: [string, Row][] = [
  ["6.6#1 VER 4 on a socks5 service: 05 FF and close", {
    service: "open",
    writes: [[4, 1, o >> 8, o & 0xff, 127, 0, 0, 1, 0]],
    expect: [5, 0xff],
  }],
  ["6.6#1 VER 4 on an auto service is SOCKS4", {
    service: "auto",
    writes: [[4, 1, o >> 8, o & 0xff, 127, 0, 0, 1, 0, ...GET]],
    startsWith: [0, 0x5a],
    ...viaOrigin,
  }],
  ["6.6#1 'G' on an auto service is HTTP", {
    service: "auto",
    writes: [enc(`GET http://127.0.0.1:${o}/via-socks HTTP/1.0\r\n\r\n`)],
    startsWith: [],
    ...viaOrigin,
  }],
  ["6.6#2 NMETHODS 0", { service: "open", writes: [[5, 0]], expect: [5, 0xff] }],
  ["6.6#2 fewer methods than NMETHODS: closed at the deadline", {
    service: "open",
    writes: [[5, 3, 0]],
    expect: [],
  }],
  ["6.6#2 EOF mid-greeting", { service: "open", writes: [[5]], eof: true, expect: [] }],
  ["6.6#3 auth configured, only 0x00 offered", {
    service: "auth",
    writes: [[5, 1, 0]],
    expect: [5, 0xff],
  }],
  ["6.6#4 no auth configured, only 0x02 offered", {
    service: "open",
    writes: [[5, 1, 2]],
    expect: [5, 0xff],
  }],
  ["6.6#5 sub-negotiation VER 2", {
    service: "auth",
    writes: [[5, 1, 2, 2, 1, 0x75, 1, 0x70]],
    expect: [5, 2, 1, 1],
  }],
  ["6.6#5 ULEN 0", { service: "auth", writes: [[5, 1, 2, 1, 0, 1, 0x70]], expect: [5, 2, 1, 1] }],
  ["6.6#5 PLEN 0", { service: "auth", writes: [[5, 1, 2, 1, 1, 0x75, 0]], expect: [5, 2, 1, 1] }],
  ["6.6#5 ULEN past the bytes sent: closed at the deadline", {
    service: "auth",
    writes: [[5, 1, 2, 1, 9, 0x75]],
    expect: [5, 2],
  }],
  ["6.6#6 wrong password: 01 01 and close", {
    service: "auth",
    writes: [[5, 1, 2, 1, 1, 0x75, 1, 0x78]],
    expect: [5, 2, 1, 1],
  }],
  ["6.6#6 right password passes", {
    service: "auth",
    writes: [[5, 1, 2, 1, 1, 0x75, 1, 0x70, ...connect(ip4(o)), ...GET]],
    startsWith: [5, 2, 1, 0, 5, 0],
    ...viaOrigin,
  }],
  ["6.6#7 request VER 4: closed", {
    service: "open",
    writes: [[5, 1, 0, 4, 1, 0, ...ip4(o)]],
    expect: [5, 0],
  }],
  ["6.6#7 RSV not 0: 0x01", {
    service: "open",
    writes: [[5, 1, 0, 5, 1, 1, ...ip4(o)]],
    expect: [5, 0, ...failure(1)],
  }],
  ["6.6#8 BIND: 0x07", {
    service: "open",
    writes: [[5, 1, 0, ...request(2, ip4(o))]],
    expect: [5, 0, ...failure(7)],
  }],
  ["6.6#8 unknown CMD 9: 0x07", {
    service: "open",
    writes: [[5, 1, 0, ...request(9, ip4(o))]],
    expect: [5, 0, ...failure(7)],
  }],
  ...[0, 2, 5].map((atyp): [string, Row] => [`6.6#9 ATYP ${atyp}: 0x08`, {
    service: "open",
    writes: [[5, 1, 0, 5, 1, 0, atyp, 127, 0, 0, 1, 0, 80]],
    expect: [5, 0, ...failure(8)],
  }]),
  ["6.6#10 empty domain: 0x01", {
    service: "open",
    writes: [[5, 1, 0, ...connect([3, 0, 0, 80])]],
    expect: [5, 0, ...failure(1)],
  }],
  ...[["NUL", [0x61, 0, 0x62]], ["'/'", enc("a/b")], ["'%'", enc("a%2fb")], ["a space", enc("a b")]]
    .map(([what, name]): [string, Row] => [`6.6#10 domain with ${what}: 0x01`, {
      service: "open",
      writes: [[5, 1, 0, ...connect([3, (name as number[]).length, ...(name as number[]), 0, 80])]],
      expect: [5, 0, ...failure(1)],
    }]),
  [
    "6.6#10 an IP literal as the domain is taken as that address (not refused: remote-DNS clients send it)",
    {
      service: "open",
      writes: [[5, 1, 0, ...connect([3, 9, ...enc("127.0.0.1"), o >> 8, o & 0xff]), ...GET]],
      startsWith: [5, 0, 5, 0],
      ...viaOrigin,
    },
  ],
  ["6.6#10 domain cut short: closed at the deadline", {
    service: "open",
    writes: [[5, 1, 0, 5, 1, 0, 3, 10, 0x61, 0x62]],
    expect: [5, 0],
  }],
  ["6.6#11 port 0: 0x02", {
    service: "open",
    writes: [[5, 1, 0, ...connect([1, 127, 0, 0, 1, 0, 0])]],
    expect: [5, 0, ...failure(2)],
  }],
  ["6.6#12 a denied destination (loopback): 0x02", {
    service: "deny",
    writes: [[5, 1, 0, ...connect(ip4(o))]],
    expect: [5, 0, ...failure(2)],
  }],
  ["6.6#13 connection refused: 0x05", {
    service: "open",
    writes: [[5, 1, 0, ...connect(ip4(closedPort))]],
    expect: [5, 0, ...failure(5)],
  }],
  ["6.6#14 greeting, request and data in one segment", {
    service: "open",
    writes: [[5, 1, 0, ...connect(ip4(o)), ...GET]],
    startsWith: [5, 0, 5, 0],
    ...viaOrigin,
  }],
  ["6.6#14 one byte per segment", {
    service: "open",
    writes: [5, 1, 0, ...connect(ip4(o))].map((b) => [b]).concat([GET]),
    startsWith: [5, 0, 5, 0],
    ...viaOrigin,
  }],
  ["6.6#15 data sent before the reply reaches the origin whole", {
    service: "open",
    writes: [[5, 1, 0], connect(ip4(o)).concat(GET.slice(0, 5)), GET.slice(5)],
    startsWith: [5, 0, 5, 0],
    ...viaOrigin,
  }],
];

const snoop = await startSnoop(`
services:
  - name: open
    addr: 127.0.0.1:0
    handler: { type: socks5, metadata: { handshakeTimeout: 400ms, dialTimeout: 400ms } }
  - name: auth
    addr: 127.0.0.1:0
    handler: { type: socks5, auth: { username: u, password: p }, metadata: { handshakeTimeout: 400ms } }
  - name: auto
    addr: 127.0.0.1:0
    handler: { type: auto, metadata: { handshakeTimeout: 400ms } }
  - name: deny
    addr: 127.0.0.1:0
    handler: { type: socks5, metadata: { egress.deny: [loopback] } }
recorders: [{ name: store, store: { path: ":memory:" } }]
ui: { addr: "127.0.0.1:0", store: store }
`);

for (const [name, row] of ROWS) {
  Deno.test({
    name: `socks catalogue ${name}`,
    sanitizeOps: false, // the listener and origin are shared by the rows (closed by the last test)
    sanitizeResources: false,
    async fn() {
      const got = await talk(snoop.port(row.service), row);
      if (row.expect) assert.deepEqual([...got], row.expect);
      else {
        const head = [...got.subarray(0, row.startsWith!.length)];
        assert.deepEqual(head, row.startsWith);
        // After the replies (and the bound address they carry): the origin's answer.
        assert.match(new TextDecoder().decode(got), row.rest!);
      }
    },
  });
}

Deno.test({
  name: "socks catalogue 6.6#13 dial deadline: 0x06 (TTL expired); #6 failures counted",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hole = await blackhole();
    try {
      const got = await talk(snoop.port("open"), {
        service: "open",
        writes: [[5, 1, 0, ...connect(ip4(hole.port))]],
      });
      assert.deepEqual([...got], [5, 0, ...failure(6)]);
      const metrics = (await curl(
        "-s",
        "-H",
        `Authorization: Bearer ${snoop.uiToken}`,
        `http://127.0.0.1:${snoop.uiAddr!.port}/metrics`,
      )).stdout;
      assert.match(metrics, /snoop_auth_failures_total\{service="auth"\} 1\n/);
      assert.match(metrics, /snoop_limit_hits_total\{service="open",limit="dial-timeout"\} 1\n/);
      assert.match(
        metrics,
        /snoop_limit_hits_total\{service="open",limit="handshake-timeout"\} 2\n/,
      );
    } finally {
      hole.close();
      await snoop.stop(0);
      await origin.close();
    }
  },
});
