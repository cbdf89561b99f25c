import assert from "node:assert/strict";
import { decode, encode, readAll, startSnoop, startWebhook, until } from "../helpers/harness.ts";

/**
 * reliability-limits §6.7 (TCP forward and tunnels). Rows covered elsewhere:
 * - half-close, client first: relay_limits_test "relay half-close: the client's FIN …";
 *   server first: faults_test "fault: the server half-closes first …";
 * - an upstream that never reads: faults_test "fault: an upstream that never reads …";
 * - zero-byte idle past the timeout: relay_limits_test "relay idle timeout …";
 * - memory per idle tunnel at 1,000 and 10,000: `deno task bench compare --sections e`.
 * Here: a reset mid-stream from each side, and fds released after many idle tunnels.
 */

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

const connectRequest = (port: number) =>
  `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;

/** Bytes of snoop's `200` answers to CONNECT, by tunnel. */
const answerBytes = new WeakMap<Deno.TcpConn, number>();

/** CONNECT through snoop to `port`; returns the tunnel once the 200 has been read. */
async function connectTunnel(proxyPort: number, port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  await conn.write(encode(connectRequest(port)));
  // One byte at a time: nothing after the head (the origin's first bytes) is taken here.
  const buf = new Uint8Array(1);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`tunnel refused: ${head}`);
    head += decode(buf.subarray(0, n));
  }
  assert.match(head, /^HTTP\/1\.1 200/);
  answerBytes.set(conn, head.length);
  return conn;
}

const config = (hook: string) => `
services:
  - name: t
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http }
recorders: [{ name: hook, http: { url: "${hook}" } }]
`;

Deno.test({
  name:
    "tunnel catalogue 6.7 RST from the server mid-stream: the client gets what came before, the record says so",
  async fn() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const serving = (async () => {
      const c = await listener.accept();
      await c.write(encode("first part"));
      // Wait for the client's bytes, leave them unread, close: Linux answers with a RST.
      await new Promise((r) => setTimeout(r, 200));
      c.close();
    })();
    const hook = await startWebhook();
    const snoop = await startSnoop(config(hook.url));
    try {
      const conn = await connectTunnel(snoop.port(), (listener.addr as Deno.NetAddr).port);
      await conn.write(encode("unread by the server ".repeat(10)));
      const got = decode(await readAll(conn).catch(() => new Uint8Array(0)));
      assert.equal(got, "first part");
      await serving;
      // Still sending after the upstream is gone: those bytes cannot be delivered.
      await conn.write(encode("more")).catch(() => {});
      conn.close();
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.err, "upstream closed the connection with data in flight");
      assert.equal(rec.outputBytes, answerBytes.get(conn)! + "first part".length);
    } finally {
      await snoop.stop(0);
      await hook.close();
      listener.close();
    }
  },
});

Deno.test({
  name:
    "tunnel catalogue 6.7 RST from the client mid-stream: the upstream is closed, the record says so",
  async fn() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let upstreamSaw = "";
    let upstreamClosed = false;
    const serving = (async () => {
      const c = await listener.accept();
      const buf = new Uint8Array(64);
      const n = await c.read(buf);
      upstreamSaw = decode(buf.subarray(0, n ?? 0));
      // Keep sending (the client never reads) until snoop closes this side.
      try {
        for (;;) await c.write(new Uint8Array(64 * 1024).fill(0x61));
      } catch {
        upstreamClosed = true;
      }
      c.close();
    })();
    const hook = await startWebhook();
    const snoop = await startSnoop(config(hook.url));
    try {
      const conn = await connectTunnel(snoop.port(), (listener.addr as Deno.NetAddr).port);
      await conn.write(encode("hello upstream"));
      await until(() => snoop.services[0].active === 1, "the tunnel to be up");
      await new Promise((r) => setTimeout(r, 200)); // let snoop deliver the 64 KiB to us
      conn.close(); // unread input: a RST
      await serving; // ends only if snoop closed the upstream
      assert.equal(upstreamSaw, "hello upstream");
      assert.ok(upstreamClosed);
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.err, "client closed the connection with data in flight");
      const port = (listener.addr as Deno.NetAddr).port;
      assert.equal(rec.inputBytes, connectRequest(port).length + "hello upstream".length);
    } finally {
      await snoop.stop(0);
      await hook.close();
      listener.close();
    }
  },
});

/** How many file descriptors this process holds. */
const openFds = () => [...Deno.readDirSync("/proc/self/fd")].length;

Deno.test({
  name: "tunnel catalogue 6.7 1,000 idle tunnels: every descriptor is released when they close",
  async fn() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const c of listener) accepted.push(c);
    })();
    const snoop = await startSnoop(`
services:
  - name: t
    addr: 127.0.0.1:0
    handler: { type: http, metadata: { maxConnectionsPerClient: 2000 } }
`);
    const before = openFds();
    const tunnels: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 1000; i += 50) {
        tunnels.push(
          ...await Promise.all(
            Array.from(
              { length: 50 },
              () => connectTunnel(snoop.port(), (listener.addr as Deno.NetAddr).port),
            ),
          ),
        );
      }
      await until(() => accepted.length === 1000, "1,000 upstream connections");
      assert.equal(snoop.services[0].active, 1000);
      // client + snoop's accepted side + snoop's upstream side + the origin's: 4 per tunnel.
      assert.ok(openFds() - before >= 4000, `${openFds() - before} descriptors for 1,000 tunnels`);
      // Both ends close (one end alone is a half-close: the tunnel rightly stays up).
      for (const t of tunnels) t.close();
      for (const c of accepted) c.close();
      await until(() => snoop.services[0].active === 0, "every tunnel to close");
      await until(() => openFds() <= before, `descriptors back to ${before} (now ${openFds()})`);
    } finally {
      await snoop.stop(0);
      listener.close();
      await accepting.catch(() => {});
    }
  },
});
