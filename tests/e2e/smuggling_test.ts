import assert from "node:assert/strict";
import { startSnoop, startWebhook, until } from "../helpers/harness.ts";

/**
 * Request smuggling through the forward proxy, end to end: a raw HTTP/1.1 origin written
 * here (it keeps connections alive and logs every request it parses, on which connection),
 * snoop in between with its upstream pool, and raw TCP clients. A hostile message from one
 * client must never become a second request on the pooled upstream connection, nor leave a
 * response there that another client reads.
 */

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

/** Latin-1 both ways: the hostile bytes (0x0B, 0xA0) go on the wire as they are written. */
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

function indexOf(buf: Uint8Array, seq: string, from = 0): number {
  outer: for (let i = from; i + seq.length <= buf.length; i++) {
    for (let j = 0; j < seq.length; j++) if (buf[i + j] !== seq.charCodeAt(j)) continue outer;
    return i;
  }
  return -1;
}

/** Reads a connection on demand: up to a delimiter, or a number of bytes. Null at EOF. */
class ByteReader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.conn.read(chunk).catch(() => null);
    if (n === null) return false;
    const merged = new Uint8Array(this.#buf.length + n);
    merged.set(this.#buf);
    merged.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = merged;
    return true;
  }

  /** Up to and including `seq`. */
  async until(seq: string): Promise<string | null> {
    for (;;) {
      const at = indexOf(this.#buf, seq);
      if (at >= 0) return this.take(at + seq.length);
      if (!(await this.#more())) return null;
    }
  }

  async exactly(n: number): Promise<string | null> {
    while (this.#buf.length < n) if (!(await this.#more())) return null;
    return this.take(n);
  }

  async rest(): Promise<string> {
    while (await this.#more());
    return this.take(this.#buf.length);
  }

  take(n: number): string {
    const s = latin1(this.#buf.subarray(0, n));
    this.#buf = this.#buf.slice(n);
    return s;
  }
}

/** Only SP and HTAB are trimmed, as RFC 9110 says and as strict origins do. */
const ows = (s: string) => s.replace(/^[ \t]+|[ \t]+$/g, "");

interface OriginRequest {
  conn: number;
  method: string;
  path: string;
  headers: [string, string][];
  body: string;
}

interface RawOrigin {
  port: number;
  /**
   * The request line of every request the origin read whole (or could not parse), in order,
   * with the connection it came on.
   */
  log: { conn: number; line: string }[];
  /** Connections the other side closed. */
  closed: Set<number>;
  close(): Promise<void>;
}

/**
 * A small HTTP/1.1 origin on 127.0.0.1: keep-alive, a body by `Transfer-Encoding: chunked`
 * (exactly that) or by a Content-Length of digits, else none; whatever does not parse as a
 * request line is logged and answered 400. This is what an origin behind snoop reasonably
 * does; snoop must frame every message the same way or refuse it.
 */
function startRawOrigin(
  respond: (req: OriginRequest) => string = (req) => ok(`you asked for ${req.path}`),
): RawOrigin {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const log: RawOrigin["log"] = [];
  const closed = new Set<number>();
  const conns = new Set<Deno.Conn>();
  const serving: Promise<void>[] = [];
  let next = 0;
  const serve = async (conn: Deno.Conn, id: number) => {
    const r = new ByteReader(conn);
    try {
      for (;;) {
        const head = await r.until("\r\n\r\n");
        if (head === null) return;
        const [line, ...fieldLines] = head.slice(0, -4).split("\r\n");
        const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(line);
        if (!m) {
          log.push({ conn: id, line });
          await conn.write(bytes("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"));
          return;
        }
        const headers = fieldLines.map((l): [string, string] => {
          const colon = l.indexOf(":");
          return [l.slice(0, colon).toLowerCase(), ows(l.slice(colon + 1))];
        });
        const field = (name: string) => headers.find(([n]) => n === name)?.[1];
        let body = "";
        const te = field("transfer-encoding"), cl = field("content-length");
        if (te !== undefined && te.toLowerCase() === "chunked") {
          for (;;) {
            const sizeLine = await r.until("\r\n");
            if (sizeLine === null) return;
            const size = parseInt(sizeLine, 16);
            if (!(size > 0)) {
              for (;;) {
                const trailer = await r.until("\r\n");
                if (trailer === null) return;
                if (trailer === "\r\n") break;
              }
              break;
            }
            const data = await r.exactly(size);
            if (data === null || (await r.exactly(2)) === null) return;
            body += data;
          }
        } else if (cl !== undefined && /^\d+$/.test(cl)) {
          const data = await r.exactly(Number(cl));
          if (data === null) return;
          body = data;
        }
        log.push({ conn: id, line });
        await conn.write(bytes(respond({ conn: id, method: m[1], path: m[2], headers, body })));
      }
    } catch {
      // the other side reset the connection
    } finally {
      closed.add(id);
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed by close() */ }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serving.push(serve(conn, ++next));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    log,
    closed,
    async close() {
      listener.close();
      await accepting.catch(() => {});
      for (const c of conns) c.close();
      await Promise.all(serving);
    },
  };
}

function ok(body: string): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

interface ClientResponse {
  status: number;
  head: string;
  body: string;
}

/**
 * One client connection to snoop: sends `request`, reads one response (by Content-Length,
 * chunked, or until close, within a deadline), then closes.
 */
async function exchange(proxyPort: number, request: string): Promise<ClientResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    await conn.write(bytes(request));
    const r = new ByteReader(conn);
    const head = (await r.until("\r\n\r\n")) ?? "";
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head)?.[1];
    let body: string;
    if (cl !== undefined) body = (await r.exactly(Number(cl))) ?? "";
    else if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
      body = "";
      for (;;) {
        const size = parseInt((await r.until("\r\n")) ?? "0", 16);
        if (!(size > 0)) break;
        body += await r.exactly(size);
        await r.exactly(2);
      }
    } else body = await r.rest();
    return { status, head, body };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed at the deadline */ }
  }
}

const proxyYaml = (webhook: string) => `
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http, metadata: { sniffing: true } }
recorders:
  - name: hook
    http: { url: "${webhook}", timeout: 2s }
`;

const get = (port: number, path: string) =>
  `GET http://127.0.0.1:${port}${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;

/** A request to smuggle behind a hostile one. */
const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/**
 * Hostile requests (after the request line and Host): snoop must answer them itself. Those
 * marked `streamed` are bad only in their trailers: the head went upstream already (bodies
 * are streamed), so snoop must cut that upstream connection before the bad part.
 */
const HOSTILE_REQUESTS: [string, string, number, "streamed"?][] = [
  [
    "Connection names Content-Length",
    `Connection: Content-Length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "Connection names Transfer-Encoding",
    `Connection: keep-alive, Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n${
      SMUGGLED.length.toString(16)
    }\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    400,
  ],
  [
    "NBSP before the Content-Length digits",
    `Content-Length: \xa0${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "Content-Length with a form feed",
    `Content-Length: ${SMUGGLED.length}\x0c\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "VT after chunked",
    `Transfer-Encoding: chunked\x0b\r\n\r\n${
      SMUGGLED.length.toString(16)
    }\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    400,
  ],
  [
    "Transfer-Encoding gzip, chunked",
    `Transfer-Encoding: gzip, chunked\r\n\r\n${
      SMUGGLED.length.toString(16)
    }\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    501,
  ],
  [
    "two different Content-Length values",
    `Content-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    400,
  ],
  [
    "Content-Length and Transfer-Encoding",
    `Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n${
      SMUGGLED.length.toString(16)
    }\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    400,
  ],
  [
    "Content-Length in the trailers",
    `Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n`,
    400,
    "streamed",
  ],
  [
    "a trailer name that is not a token",
    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX Y: 1\r\n\r\n",
    400,
    "streamed",
  ],
];

Deno.test("forward proxy: a hostile request is refused and never reaches a pooled upstream", async (t) => {
  const hook = await startWebhook();
  const snoop = await startSnoop(proxyYaml(hook.url));
  const proxy = snoop.port();
  try {
    for (const [name, rest, status, streamed] of HOSTILE_REQUESTS) {
      await t.step(`${name} → ${status}`, async () => {
        const origin = startRawOrigin();
        const before = hook.records.length;
        try {
          const o = origin.port;
          // A first request leaves an idle upstream connection in snoop's pool.
          const warm = await exchange(proxy, get(o, "/warm"));
          assert.equal(warm.body, "you asked for /warm");
          const hostile = await exchange(
            proxy,
            `POST http://127.0.0.1:${o}/hostile HTTP/1.1\r\nHost: 127.0.0.1:${o}\r\n${rest}`,
          );
          if (streamed) await until(() => origin.closed.has(1), "snoop cutting the upstream");
          // A second client: it must get its own response, on the pooled connection (the
          // smuggled request's, left on it, would come first).
          const other = await exchange(proxy, get(o, "/other"));
          assert.equal(other.body, "you asked for /other");
          assert.equal(other.status, 200);
          assert.equal(hostile.status, status, hostile.head);
          // The origin read one request per forwarded request, and none for the hostile.
          assert.deepEqual(origin.log, [
            { conn: 1, line: "GET /warm HTTP/1.1" },
            { conn: streamed ? 2 : 1, line: "GET /other HTTP/1.1" },
          ]);
          const records = (await hook.waitFor(before + 3)).slice(before) as Rec[];
          const refused = records.filter((r) => r.err);
          assert.equal(refused.length, 1, JSON.stringify(records));
          assert.ok(refused[0].err.length > 0);
          assert.deepEqual(
            records.filter((r) => !r.err).map((r) => r.http.uri).sort(),
            [`http://127.0.0.1:${o}/other`, `http://127.0.0.1:${o}/warm`],
          );
        } finally {
          await origin.close();
        }
      });
    }
  } finally {
    await snoop.stop(0);
    await hook.close();
  }
});

/** Hostile responses: head and body as the origin sends them, in one write. */
const HOSTILE_RESPONSES: [string, string][] = [
  [
    "Connection names Content-Length",
    "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello",
  ],
  [
    "NBSP before the Content-Length digits",
    "HTTP/1.1 200 OK\r\nContent-Length: \xa05\r\n\r\nhello",
  ],
  [
    "VT after chunked",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\x0b\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  ],
  [
    "Content-Length and Transfer-Encoding",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  ],
  [
    "Transfer-Encoding other than chunked",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
  ],
  [
    "Content-Length in the trailers",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 40\r\n\r\n",
  ],
  [
    "a NUL in a trailer value",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: a\x00b\r\n\r\n",
  ],
];

Deno.test("forward proxy: a hostile response is a 502 and its upstream connection is dropped", async (t) => {
  const hook = await startWebhook();
  const snoop = await startSnoop(proxyYaml(hook.url));
  const proxy = snoop.port();
  try {
    for (const [name, response] of HOSTILE_RESPONSES) {
      await t.step(name, async () => {
        const origin = startRawOrigin((req) =>
          req.path === "/hostile" ? response : ok(`you asked for ${req.path}`)
        );
        const before = hook.records.length;
        try {
          const o = origin.port;
          const warm = await exchange(proxy, get(o, "/warm"));
          assert.equal(warm.body, "you asked for /warm");
          const hostile = await exchange(proxy, get(o, "/hostile"));
          assert.equal(hostile.status, 502, hostile.head + hostile.body);
          // The connection that carried the hostile response is closed, not pooled: the
          // next client's request goes on a new one and gets its own answer.
          await until(() => origin.closed.has(1), "snoop closing the upstream connection");
          const other = await exchange(proxy, get(o, "/other"));
          assert.equal(other.status, 200);
          assert.equal(other.body, "you asked for /other");
          assert.deepEqual(origin.log, [
            { conn: 1, line: "GET /warm HTTP/1.1" },
            { conn: 1, line: "GET /hostile HTTP/1.1" },
            { conn: 2, line: "GET /other HTTP/1.1" },
          ]);
          const records = (await hook.waitFor(before + 3)).slice(before) as Rec[];
          const failed = records.find((r) => r.http?.uri.endsWith("/hostile"));
          assert.equal(failed?.http.statusCode, 502);
          assert.match(failed?.err ?? "", /bad upstream response/);
        } finally {
          await origin.close();
        }
      });
    }
  } finally {
    await snoop.stop(0);
    await hook.close();
  }
});

Deno.test("sniffed tunnel: clientIP is a forwarding header's address only when it is an IP", async () => {
  const hook = await startWebhook();
  const snoop = await startSnoop(proxyYaml(hook.url));
  const origin = startRawOrigin();
  try {
    const o = origin.port;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
    try {
      await conn.write(bytes(`CONNECT 127.0.0.1:${o} HTTP/1.1\r\nHost: 127.0.0.1:${o}\r\n\r\n`));
      const r = new ByteReader(conn);
      assert.match((await r.until("\r\n\r\n")) ?? "", /^HTTP\/1\.1 200/);
      const cases: [string, string][] = [
        ["X-Forwarded-For: 198.51.100.7 (not me)", "127.0.0.1"],
        ["X-Forwarded-For: 198.51.100.7, 10.0.0.1", "198.51.100.7"],
        ["CF-Connecting-IP: <img src=x>", "127.0.0.1"],
        ["X-Real-Ip: 2001:db8::7", "2001:db8::7"],
        ["X-Forwarded-For: fe80::1%eth0", "127.0.0.1"],
      ];
      for (const [i, [field]] of cases.entries()) {
        await conn.write(bytes(`GET /ip${i} HTTP/1.1\r\nHost: 127.0.0.1:${o}\r\n${field}\r\n\r\n`));
        const head = (await r.until("\r\n\r\n")) ?? "";
        const cl = Number(/Content-Length: (\d+)/.exec(head)?.[1]);
        assert.equal(await r.exactly(cl), `you asked for /ip${i}`);
      }
      const records = (await hook.waitFor(cases.length)) as Rec[];
      for (const [i, [field, ip]] of cases.entries()) {
        const rec = records.find((r) => r.http?.uri === `/ip${i}`);
        assert.equal(rec?.clientIP, ip, field);
      }
    } finally {
      conn.close();
    }
  } finally {
    await snoop.stop(0);
    await origin.close();
    await hook.close();
  }
});

Deno.test("sniffed tunnel: bytes pass as sent on the client's own connection; the sniffer does not guess", async () => {
  // CONNECT tunnels (and MITM, which decrypts into the same relay) are not re-framed: the
  // client's bytes reach an upstream connection of its own, never a pooled one. The
  // sniffer reads a copy with the same parser: it refuses the hostile head and says so.
  const hook = await startWebhook();
  const snoop = await startSnoop(proxyYaml(hook.url));
  const origin = startRawOrigin();
  try {
    const o = origin.port;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
    try {
      await conn.write(bytes(`CONNECT 127.0.0.1:${o} HTTP/1.1\r\nHost: 127.0.0.1:${o}\r\n\r\n`));
      const r = new ByteReader(conn);
      assert.match((await r.until("\r\n\r\n")) ?? "", /^HTTP\/1\.1 200/);
      await conn.write(bytes(
        `POST /hostile HTTP/1.1\r\nHost: 127.0.0.1:${o}\r\nConnection: Content-Length\r\n` +
          `Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
      ));
      const head = (await r.until("\r\n\r\n")) ?? "";
      const cl = Number(/Content-Length: (\d+)/.exec(head)?.[1]);
      assert.equal(await r.exactly(cl), "you asked for /hostile");
    } finally {
      conn.close();
    }
    const [rec] = (await hook.waitFor(1)) as Rec[];
    assert.match(rec.err ?? "", /^http: Connection names content-length/);
    assert.deepEqual(origin.log, [{ conn: 1, line: "POST /hostile HTTP/1.1" }]);
  } finally {
    await snoop.stop(0);
    await origin.close();
    await hook.close();
  }
});
