import assert from "node:assert/strict";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import {
  curl,
  freePort,
  needs,
  startOrigin,
  startSnoop,
  startWebhook,
} from "../helpers/harness.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

const SELF = "the target is snoop itself";
/** The SOCKS4 handler prefixes its errors with `socks4: `. */
const isSelf = (r: Rec) => r.err === SELF || r.err === `socks4: ${SELF}`;

/**
 * Spellings of 127.0.0.1 (or of an address that reaches it) that curl passes on as they
 * are, or reads itself into one it passes on: `0` becomes 0.0.0.0, `127.1` 127.0.0.1.
 */
const CURL_SPELLINGS = [
  "0.0.0.0",
  "0",
  "[::ffff:127.0.0.1]",
  "[::ffff:7f00:1]",
  "127.1",
  "0x7f000001",
  "2130706433",
  "localhost",
];

/** Spellings sent byte for byte (a CONNECT line, a SOCKS domain), as a hostile client may. */
const RAW_SPELLINGS = [
  "127.1",
  "127.0.1",
  "2130706433",
  "0x7f000001",
  "0177.0.0.1",
  "0",
  "0.0.0.0",
  "localhost",
];

/** Reads until `n` bytes came (or the peer closed, or 5 s passed). */
async function readAtLeast(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out: number[] = [];
  const buf = new Uint8Array(1024);
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    while (out.length < n) {
      const got = await conn.read(buf).catch(() => null);
      if (got === null) break;
      out.push(...buf.subarray(0, got));
    }
  } finally {
    clearTimeout(timer);
  }
  return Uint8Array.from(out);
}

async function talk(port: number, bytes: Uint8Array, expect: number): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(bytes);
    return await readAtLeast(conn, expect);
  } finally {
    try {
      conn.close();
    } catch { /* closed at the deadline */ }
  }
}

/** A CONNECT with `target` as written: the status line's code. */
async function connectStatus(proxy: number, target: string): Promise<string> {
  const reply = await talk(
    proxy,
    new TextEncoder().encode(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`),
    12,
  );
  return new TextDecoder().decode(reply).slice(9, 12);
}

/** A SOCKS5 CONNECT to a domain (ATYP 3) spelled `host`: the reply code. */
async function socks5Domain(proxy: number, host: string, port: number): Promise<number> {
  const name = new TextEncoder().encode(host);
  const reply = await talk(
    proxy,
    Uint8Array.of(5, 1, 0, 5, 1, 0, 3, name.length, ...name, port >> 8, port & 0xff),
    4,
  );
  assert.deepEqual([...reply.subarray(0, 2)], [5, 0], "method selected");
  return reply[3];
}

/** A SOCKS4a CONNECT to `host` (DSTIP 0.0.0.1, the name behind the userid): the reply code. */
async function socks4a(proxy: number, host: string, port: number): Promise<number> {
  const name = new TextEncoder().encode(host);
  const reply = await talk(
    proxy,
    Uint8Array.of(4, 1, port >> 8, port & 0xff, 0, 0, 0, 1, 0, ...name, 0),
    2,
  );
  return reply[1];
}

const config = (hookUrl: string, uiPort: number, extra = "") => `
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: auto }
${extra}
recorders:
  - { name: hook, http: { url: "${hookUrl}" } }
  - { name: store, store: { path: ":memory:" } }
ui: { addr: "127.0.0.1:${uiPort}", store: store }
`;

Deno.test({
  name:
    "self guard: curl through forward, CONNECT, SOCKS5, SOCKS5h and SOCKS4a cannot reach the UI",
  ignore: needs("curl"),
  async fn() {
    const hook = await startWebhook();
    const origin = await startOrigin();
    const ui = freePort();
    const snoop = await startSnoop(config(hook.url, ui));
    try {
      const proxy = `127.0.0.1:${snoop.port()}`;
      // The same proxy reaches an ordinary origin on 127.0.0.1 by every route.
      for (
        const how of [["-x", proxy], ["-p", "-x", proxy], ["--socks5", proxy], [
          "--socks5-hostname",
          proxy,
        ], ["--socks4a", proxy]]
      ) {
        const ok = await curl(...how, `${origin.url}/ok`);
        assert.equal(ok.stdout, "hello GET /ok ", how.join(" "));
      }
      const okRecords = 5;
      let attempts = 0;
      for (const host of CURL_SPELLINGS) {
        for (const port of [ui, snoop.port()]) {
          const url = `http://${host}:${port}/healthz`;
          const codes = ["-s", "-o", "/dev/null", "-w", "%{http_code} %{http_connect}"];
          const forward = await curl(...codes, "-x", proxy, url);
          assert.equal(forward.stdout, "403 000", `forward ${url}`);
          const tunnel = await curl(...codes, "-p", "-x", proxy, url);
          assert.equal(tunnel.stdout, "000 403", `CONNECT ${url}`);
          attempts += 2;
          for (const socks of ["--socks5", "--socks5-hostname", "--socks4a"]) {
            const r = await curl(socks, proxy, url);
            assert.notEqual(r.code, 0, `${socks} ${url}`);
            assert.equal(r.stdout, "", `${socks} ${url}`);
            attempts++;
          }
        }
      }
      const recs = (await hook.waitFor(okRecords + attempts)) as Rec[];
      const refused = recs.filter((r) => r.err);
      assert.equal(refused.length, attempts, JSON.stringify(refused.map((r) => r.host)));
      assert.ok(
        refused.every(isSelf),
        JSON.stringify(refused.filter((r) => !isSelf(r)).map((r) => [r.host, r.err])),
      );
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "self guard: numeric spellings as written in CONNECT, SOCKS5 domains and SOCKS4a names",
  async fn() {
    const hook = await startWebhook();
    const ui = freePort();
    const snoop = await startSnoop(config(hook.url, ui));
    try {
      const p = snoop.port();
      for (const host of RAW_SPELLINGS) {
        assert.equal(await connectStatus(p, `${host}:${ui}`), "403", `CONNECT ${host}`);
        assert.equal(await socks5Domain(p, host, ui), 0x02, `SOCKS5 ${host}`);
        assert.equal(await socks4a(p, host, ui), 91, `SOCKS4a ${host}`);
      }
      for (const target of ["[::ffff:7f00:1]", "[::ffff:127.0.0.1]", "[::]", "[::1]"]) {
        assert.equal(await connectStatus(p, `${target}:${ui}`), "403", `CONNECT ${target}`);
      }
      const attempts = RAW_SPELLINGS.length * 3 + 4;
      const recs = (await hook.waitFor(attempts)) as Rec[];
      assert.equal(recs.length, attempts);
      assert.ok(
        recs.every(isSelf),
        JSON.stringify(recs.filter((r) => !isSelf(r)).map((r) => [r.host, r.err])),
      );
    } finally {
      await snoop.stop(0);
      await hook.close();
    }
  },
});

Deno.test({
  name: "self guard: a tcp forwarder and an SNI proxy aimed at the UI are refused",
  async fn() {
    const hook = await startWebhook();
    const ui = freePort();
    const snoop = await startSnoop(config(
      hook.url,
      ui,
      `
  - name: fwd
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: tcp }
    forwarder: { nodes: [{ name: ui, addr: "0x7f000001:${ui}" }] }
  - name: sni
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: sni }
`,
    ));
    try {
      const get = (host: string) =>
        new TextEncoder().encode(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      const viaForward = await talk(snoop.port("fwd"), get(`127.0.0.1:${ui}`), 1);
      assert.equal(viaForward.length, 0, "closed without an answer from the UI");
      const viaSni = await talk(snoop.port("sni"), get(`127.1:${ui}`), 1);
      assert.equal(viaSni.length, 0, "closed without an answer from the UI");
      const recs = (await hook.waitFor(2)) as Rec[];
      assert.deepEqual(recs.map((r) => r.err), [SELF, SELF]);
    } finally {
      await snoop.stop(0);
      await hook.close();
    }
  },
});

Deno.test({
  name: "egress deny loopback refuses 0.0.0.0 and :: (which reach this machine), by any spelling",
  async fn() {
    const hook = await startWebhook();
    const origin = await startOrigin();
    const snoop = await startSnoop(`
services:
  - name: deny
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: auto, metadata: { egress.deny: [loopback] } }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const p = snoop.port();
      const o = origin.port;
      for (const host of ["0.0.0.0", "0", "[::ffff:0.0.0.0]", "[::]", "0x7f000001"]) {
        assert.equal(await connectStatus(p, `${host}:${o}`), "403", `CONNECT ${host}`);
      }
      assert.equal(await socks5Domain(p, "0.0.0.0", o), 0x02);
      assert.equal(await socks4a(p, "0", o), 91);
      assert.equal(origin.requests.length, 0, "nothing reached the origin");
      const recs = (await hook.waitFor(7)) as Rec[];
      assert.ok(
        recs.every((r) => /which is denied|is denied/.test(r.err) && /loopback/.test(r.err)),
        JSON.stringify(recs.map((r) => r.err)),
      );
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

/** A UDP socket on `host:port` (0: any) that keeps what it receives. */
async function udpListener(host: string, port = 0) {
  const socket = dgram.createSocket("udp4");
  const got: string[] = [];
  socket.on("message", (m) => got.push(m.toString()));
  await new Promise<void>((r) => socket.bind(port, host, () => r()));
  return { port: socket.address().port, got, close: () => socket.close() };
}

/** RSV(2) | FRAG | ATYP | DST.ADDR | DST.PORT | DATA, to a domain or an IPv4 address. */
function udpRequest(host: string, port: number, data: string): Buffer {
  const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(host);
  const name = new TextEncoder().encode(host);
  const addr = v4 ? [1, ...host.split(".").map(Number)] : [3, name.length, ...name];
  return Buffer.concat([
    Buffer.from([0, 0, 0, ...addr, port >> 8, port & 0xff]),
    Buffer.from(data),
  ]);
}

/**
 * A SOCKS5 UDP association on `proxy`: the TCP control connection and the relay's port.
 * Closing the control ends the association (and has snoop emit its record).
 */
async function associate(proxy: number) {
  const control = await Deno.connect({ hostname: "127.0.0.1", port: proxy });
  await control.write(Uint8Array.of(5, 1, 0));
  assert.deepEqual([...(await readAtLeast(control, 2))], [5, 0]);
  await control.write(Uint8Array.of(5, 3, 0, 1, 0, 0, 0, 0, 0, 0));
  const reply = await readAtLeast(control, 10);
  assert.equal(reply[1], 0, "UDP ASSOCIATE succeeded");
  return { control, relayPort: (reply[8] << 8) | reply[9] };
}

Deno.test({
  name: "socks5 UDP: a datagram to snoop itself or to a denied loopback address is not sent",
  async fn() {
    const hook = await startWebhook();
    const ui = freePort();
    // On the UI's port number: UDP, but where snoop listens (the port counts, not the transport).
    const selfish = await udpListener("127.0.0.1", ui);
    const denied = await udpListener("127.0.0.1");
    const allowed = await udpListener("127.0.0.2");
    const snoop = await startSnoop(`
services:
  - name: open
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: socks5, metadata: { udp: true } }
  - name: deny
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: socks5
      metadata: { udp: true, egress.deny: [loopback], egress.allow: [127.0.0.2/32] }
recorders:
  - { name: hook, http: { url: "${hook.url}" } }
  - { name: store, store: { path: ":memory:" } }
ui: { addr: "127.0.0.1:${ui}", store: store }
`);
    const client = dgram.createSocket("udp4");
    await new Promise<void>((r) => client.bind(0, "127.0.0.1", () => r()));
    const send = (relay: number, b: Buffer) => client.send(b, relay, "127.0.0.1");
    const arrived = async (got: string[], what: string) => {
      for (let i = 0; i < 100 && !got.includes(what); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(got.includes(what), `${what} arrived`);
    };
    try {
      const open = await associate(snoop.port("open"));
      for (const host of ["127.0.0.1", "127.1", "0x7f000001", "0"]) {
        send(open.relayPort, udpRequest(host, ui, `to-self ${host}`));
      }
      send(open.relayPort, udpRequest("127.0.0.1", denied.port, "open-ok"));
      await arrived(denied.got, "open-ok");

      const deny = await associate(snoop.port("deny"));
      for (const host of ["127.0.0.1", "2130706433", "localhost", "0.0.0.0"]) {
        send(deny.relayPort, udpRequest(host, denied.port, `to-loopback ${host}`));
      }
      send(deny.relayPort, udpRequest("127.0.0.2", allowed.port, "deny-ok"));
      await arrived(allowed.got, "deny-ok");

      open.control.close();
      deny.control.close();
      const recs = (await hook.waitFor(2)) as Rec[];
      const errs = recs.map((r) => r.err).sort();
      assert.equal(errs.length, 2);
      assert.match(
        errs[0],
        /^4 datagram\(s\) dropped, the first: destination 127\.0\.0\.1 is denied/,
      );
      assert.equal(errs[1], `4 datagram(s) dropped, the first: ${SELF}`);
      // Everything refused was accounted for before the records: nothing is still on its way.
      assert.deepEqual(selfish.got, [], "nothing reached the listener on snoop's port");
      assert.deepEqual(denied.got, ["open-ok"], "only the allowed datagram reached 127.0.0.1");
      assert.deepEqual(allowed.got, ["deny-ok"]);
    } finally {
      client.close();
      selfish.close();
      denied.close();
      allowed.close();
      await snoop.stop(0);
      await hook.close();
    }
  },
});
