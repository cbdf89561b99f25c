import assert from "node:assert/strict";
import { framingFields, stripHopByHop } from "../../src/protocol/http1/headers.ts";
import { Http1ParseError, Http1Parser } from "../../src/protocol/http1/parser.ts";
import { ascii, concat, everySplit, text } from "../helpers/chunks.ts";

interface Msg {
  start: string;
  headers: [string, string][];
  body: string;
  wire: string;
}

/** Feeds chunks, copying every view (the caller's buffer is reused, as the relay does). */
function parseAll(kind: "request" | "response", chunks: Uint8Array[], methods: string[] = []) {
  const p = new Http1Parser(kind);
  methods.forEach((m) => p.expectResponseTo(m));
  const msgs: Msg[] = [];
  let cur: Msg | null = null;
  const tunnel: Uint8Array[] = [];
  const scratch = new Uint8Array(4096);
  const drain = () => {
    for (let ev = p.next(); ev; ev = p.next()) {
      if (ev.type === "head") {
        const h = ev.head;
        cur = {
          start: h.method ? `${h.method} ${h.target} ${h.version}` : `${h.version} ${h.status}`,
          headers: h.headers,
          body: "",
          wire: text(ev.wire),
        };
      } else if (ev.type === "body") {
        cur!.body += text(ev.data);
        cur!.wire += text(ev.wire);
      } else if (ev.type === "end") {
        cur!.wire += text(ev.wire);
        msgs.push(cur!);
        cur = null;
      } else tunnel.push(ev.wire.slice());
    }
  };
  for (const c of chunks) {
    scratch.set(c);
    p.push(scratch.subarray(0, c.length));
    drain();
    scratch.fill(0x58); // clobber, as a reused read buffer would be
  }
  p.finish();
  drain();
  return { msgs, tunnel: text(concat(tunnel)), parser: p };
}

const pipelined = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
  "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
  "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n";

Deno.test("http1 parser reads pipelined requests on every split", () => {
  for (const chunks of everySplit(ascii(pipelined))) {
    const { msgs } = parseAll("request", chunks);
    assert.deepEqual(msgs.map((m) => m.start), [
      "GET /a HTTP/1.1",
      "POST /b HTTP/1.1",
      "PUT /c HTTP/1.1",
    ]);
    assert.deepEqual(msgs.map((m) => m.body), ["", "hello", "abcde"]);
    // The wire views put back together are the stream, byte for byte.
    assert.equal(msgs.map((m) => m.wire).join(""), pipelined);
  }
});

Deno.test("http1 parser frames responses by method and status", () => {
  const wire = "HTTP/1.1 100 Continue\r\n\r\n" +
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc" +
    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + // answer to HEAD: no body
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n" +
    "HTTP/1.1 200 OK\r\n\r\nuntil close";
  for (const chunks of everySplit(ascii(wire))) {
    const { msgs } = parseAll("response", chunks, ["POST", "HEAD", "GET", "GET"]);
    assert.deepEqual(msgs.map((m) => m.start), [
      "HTTP/1.1 100",
      "HTTP/1.1 200",
      "HTTP/1.1 200",
      "HTTP/1.1 304",
      "HTTP/1.1 200",
    ]);
    assert.deepEqual(msgs.map((m) => m.body), ["", "abc", "", "", "until close"]);
  }
});

Deno.test("http1 parser switches to tunnel after 101 and after CONNECT 200", () => {
  const up =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi";
  for (const chunks of everySplit(ascii(up))) {
    const { msgs, tunnel } = parseAll("response", chunks, ["GET"]);
    assert.equal(msgs.length, 1);
    assert.equal(tunnel, "\x81\x02hi");
  }
  const { msgs, tunnel } = parseAll(
    "response",
    [ascii("HTTP/1.1 200 Connection established\r\n\r\nraw bytes")],
    ["CONNECT"],
  );
  assert.equal(msgs.length, 1);
  assert.equal(tunnel, "raw bytes");
});

Deno.test("http1 parser holds bytes after an Upgrade request until told", () => {
  const p = new Http1Parser("request");
  p.push(
    ascii("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00"),
  );
  assert.equal(p.next()?.type, "head");
  assert.equal(p.next()?.type, "end");
  assert.equal(p.next(), null);
  assert.ok(p.holding);
  p.switchToTunnel();
  const ev = p.next();
  assert.equal(ev?.type, "tunnel");
  assert.deepEqual([...ev!.wire], [0x81, 0x00]);
});

Deno.test("http1 parser rejects malformed and oversized input with a status", () => {
  const cases: [string, number][] = [
    ["GARBAGE\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\n folded\r\n\r\n", 400],
    ["GET / HTTP/2.0\r\n\r\n", 505],
    ["POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n", 400],
    [`GET /${"a".repeat(9000)} HTTP/1.1\r\n\r\n`, 414],
    [`GET / HTTP/1.1\r\nX: ${"a".repeat(9000)}\r\n\r\n`, 431],
    [`GET / HTTP/1.1\r\n${"X: 1\r\n".repeat(101)}\r\n`, 431],
  ];
  for (const [input, status] of cases) {
    const p = new Http1Parser("request");
    p.push(ascii(input));
    assert.throws(
      () => {
        while (p.next());
      },
      (e) => e instanceof Http1ParseError && e.status === status,
      JSON.stringify(input.slice(0, 60)),
    );
  }
});

Deno.test("http1 parser reports a truncated body at EOF", () => {
  const p = new Http1Parser("request");
  p.push(ascii("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  p.finish();
  assert.throws(() => {
    while (p.next());
  }, Http1ParseError);
});

Deno.test("http1 parser reports the declared Content-Length whatever the framing", () => {
  const heads = (kind: "request" | "response", wire: string, methods: string[] = []) => {
    const p = new Http1Parser(kind);
    methods.forEach((m) => p.expectResponseTo(m));
    p.push(ascii(wire));
    const out: [string, number, number | null][] = [];
    for (let ev = p.next(); ev; ev = p.next()) {
      if (ev.type === "head") out.push([ev.framing, ev.length, ev.declaredLength]);
    }
    return out;
  };
  assert.deepEqual(
    heads(
      "request",
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" +
        "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc" +
        "GET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    ),
    [["none", 0, 0], ["length", 3, 3], ["none", 0, null]],
  );
  assert.deepEqual(
    heads(
      "response",
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + // to HEAD
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n" +
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      ["HEAD", "GET", "GET"],
    ),
    [["none", 0, 10], ["none", 0, 7], ["chunked", -1, null]],
  );
});

Deno.test("forwarded fields: framing is written from the parse, Connection cannot remove it", () => {
  const fields: [string, string][] = [
    ["Content-Length", "5, 5"],
    ["Transfer-Encoding", "chunked"],
    ["Connection", "keep-alive, X-Drop, Content-Length, Upgrade"],
    ["X-Drop", "1"],
    ["Keep-Alive", "timeout=5"],
    ["Upgrade", "websocket"],
    ["X-Keep", "2"],
  ];
  assert.deepEqual(stripHopByHop(fields, { keepUpgrade: false }), [["X-Keep", "2"]]);
  assert.deepEqual(stripHopByHop(fields, { keepUpgrade: true }), [
    ["Upgrade", "websocket"],
    ["X-Keep", "2"],
    ["Connection", "Upgrade"],
  ]);
  assert.deepEqual(framingFields("length", 5, 5), [["Content-Length", "5"]]);
  assert.deepEqual(framingFields("chunked", -1, null), [["Transfer-Encoding", "chunked"]]);
  assert.deepEqual(framingFields("close", -1, null), []);
  assert.deepEqual(framingFields("none", 0, 0), [["Content-Length", "0"]]);
  assert.deepEqual(framingFields("none", 0, null), []);
  assert.deepEqual(framingFields("none", 0, 10, 304), [["Content-Length", "10"]]);
  assert.deepEqual(framingFields("none", 0, 0, 204), []);
  assert.deepEqual(framingFields("none", 0, 0, 101), []);
});
