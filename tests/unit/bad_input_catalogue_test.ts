import assert from "node:assert/strict";
import { Http1ParseError, Http1Parser } from "../../src/protocol/http1/parser.ts";
import { clientIPFrom } from "../../src/sniff/exchange_record.ts";
import { ascii } from "../helpers/chunks.ts";

/** A chunked body with one chunk, after the head's last field line. */
const CHUNKED_BODY = "\r\n5\r\nhello\r\n0\r\n\r\n";

/** A chunked request whose trailer section holds `fields` (field lines with their CRLF). */
const trailers = (fields: string) =>
  `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${fields}\r\n`;

/**
 * reliability-limits §6.1 and §6.2 (HTTP/1 request line, headers, body framing and chunked
 * encoding) as a table: each bad input gets its status, fed whole and one byte at a time.
 */
const REJECT: [string, string, number][] = [
  ["6.1#1 request line > 8 KiB", `GET /${"a".repeat(9000)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414],
  ["6.1#2 header line > 8 KiB", `GET / HTTP/1.1\r\nHost: a\r\nX: ${"a".repeat(9000)}\r\n\r\n`, 431],
  [
    "6.1#2 header block > 64 KiB",
    `GET / HTTP/1.1\r\nHost: a\r\n${`X: ${"a".repeat(8000)}\r\n`.repeat(9)}\r\n`,
    431,
  ],
  ["6.1#2 > 100 fields", `GET / HTTP/1.1\r\n${"X: 1\r\n".repeat(101)}\r\n`, 431],
  ["6.1#3 two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
  ["6.1#3 HTTP/1.1 without Host", "GET /x HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400],
  [
    "6.1#5 space before colon",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
    400,
  ],
  ["6.1#6 obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n", 400],
  ["6.1#7 bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n", 400],
  ["6.1#9 NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\x002\r\n\r\n", 400],
  ["6.1#9 byte > 0x7F in a name", "GET / HTTP/1.1\r\nHost: a\r\nX\xe9: 1\r\n\r\n", 400],
  ["6.1#10 empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400],
  ["6.1#10 line without colon", "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", 400],
  ["6.1#12 whitespace before the first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400],
  ["6.1#13 invalid method token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  ["6.1#13 HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400],
  ["6.1#13 HTTP/2.0 over HTTP/1", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
  ["6.1#14 HTTP/1.1x", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400],
  ["6.1#15 space in the URI", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400],
  [
    "6.2#1 CL and TE",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    400,
  ],
  [
    "6.2#2 two different CL",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    400,
  ],
  ["6.2#2 CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400],
  ["6.2#2 CL +5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400],
  ["6.2#2 CL -1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400],
  ["6.2#2 CL 0x5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400],
  [
    "6.2#2 CL overflow",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
    400,
  ],
  ["6.2#2 empty CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400],
  [
    "6.2#4 TE chunked, identity",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
    501,
  ],
  ["6.2#4 TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501],
  ["6.2#4 TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501],
  ["6.2#4 TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
  [
    "6.2#5 chunk size 0x5",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    400,
  ],
  [
    "6.2#5 chunk size -5",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    400,
  ],
  [
    "6.2#5 chunk size > 16 hex digits",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
    400,
  ],
  [
    "6.2#6 bare LF after the chunk size",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    400,
  ],
  [
    "6.2#7 LF inside a chunk extension",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
    400,
  ],
  [
    "6.2#8 chunk-size line > 4 KiB",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;${
      "e".repeat(5000)
    }\r\nhello\r\n0\r\n\r\n`,
    400,
  ],
  [
    "6.2#8 extensions > 16 KiB in all",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${
      `1;${"e".repeat(4000)}\r\nx\r\n`.repeat(5)
    }0\r\n\r\n`,
    400,
  ],
  [
    "6.2#9 chunk data without CRLF",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    400,
  ],
  // 6.1#18: a Connection option may not delete what frames or routes the message.
  [
    "6.1#18 Connection: Content-Length",
    "POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello",
    400,
  ],
  [
    "6.1#18 Connection: close, Transfer-Encoding",
    `POST / HTTP/1.1\r\nHost: a\r\nConnection: close, Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n${CHUNKED_BODY}`,
    400,
  ],
  [
    "6.1#18 Proxy-Connection: host",
    "GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: host\r\n\r\n",
    400,
  ],
  // Framing values: only SP and HTAB are whitespace; any other control or non-ASCII byte is
  // refused, not trimmed (JavaScript's trim() takes VT, FF and NBSP too).
  [
    "CL NBSP before the digits",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xa05\r\n\r\nhello",
    400,
  ],
  [
    "CL VT after the digits",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\x0b\r\n\r\nhello",
    400,
  ],
  [
    "CL FF before the digits",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \x0c5\r\n\r\nhello",
    400,
  ],
  ["CL DEL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\x7f\r\n\r\nhello", 400],
  ["CL NUL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\x00\r\n\r\nhello", 400],
  ["CL bare CR inside", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r5\r\n\r\nhello", 400],
  [
    "TE VT after chunked",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n${CHUNKED_BODY}`,
    400,
  ],
  [
    "TE NBSP before chunked",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \xa0chunked\r\n${CHUNKED_BODY}`,
    400,
  ],
  [
    "TE FF after chunked",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0c\r\n${CHUNKED_BODY}`,
    400,
  ],
  [
    "6.2#4 TE ,chunked",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n${CHUNKED_BODY}`,
    501,
  ],
  [
    "6.2#4 TE chunked, chunked",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n${CHUNKED_BODY}`,
    501,
  ],
  [
    "6.2#4 TE gzip, chunked",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n${CHUNKED_BODY}`,
    501,
  ],
  ["6.2#4 TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501],
  [
    "6.2#4 TE chunked on two lines",
    `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n${CHUNKED_BODY}`,
    400,
  ],
  [
    "6.2#4 empty TE",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello",
    501,
  ],
  // 6.2#10: trailers are checked as fields and may not carry framing or routing fields.
  ["6.2#10 Content-Length in trailers", trailers("Content-Length: 40\r\n"), 400],
  ["6.2#10 Transfer-Encoding in trailers", trailers("Transfer-Encoding: chunked\r\n"), 400],
  ["6.2#10 Host in trailers", trailers("host: b\r\n"), 400],
  ["6.2#10 Connection in trailers", trailers("Connection: close\r\n"), 400],
  ["6.2#10 trailer name with a space", trailers("X Y: 1\r\n"), 400],
  ["6.2#10 space before a trailer colon", trailers("X-T : 1\r\n"), 400],
  ["6.2#10 empty trailer name", trailers(": 1\r\n"), 400],
  ["6.2#10 trailer without colon", trailers("nocolon\r\n"), 400],
  ["6.2#10 obs-fold in trailers", trailers("X-T: 1\r\n 2\r\n"), 400],
  ["6.2#10 NUL in a trailer value", trailers("X-T: a\x00b\r\n"), 400],
  ["6.2#10 bare CR in a trailer value", trailers("X-T: a\rb\r\n"), 400],
  ["6.2#10 VT in a trailer value", trailers("X-T: a\x0bb\r\n"), 400],
  ["6.2#10 bare LF ends a trailer", trailers("X-T: 1\n"), 400],
  [
    "6.2#10 bare LF ends the trailers",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",
    400,
  ],
  ["6.2#10 trailer line > 8 KiB", trailers(`X-T: ${"a".repeat(9000)}\r\n`), 431],
  ["6.2#10 trailers > 64 KiB", trailers(`X-T: ${"a".repeat(8000)}\r\n`.repeat(9)), 431],
  ["6.2#10 > 100 trailer fields", trailers("X-T: 1\r\n".repeat(101)), 431],
];

/**
 * Hostile responses from an upstream: the same checks, answered 502 (the proxy's client
 * gets a 502, and the connection is not reused).
 */
const REJECT_RESPONSE: [string, string, number][] = [
  [
    "Connection: Content-Length",
    "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello",
    502,
  ],
  [
    "Connection: Transfer-Encoding",
    "HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    502,
  ],
  ["CL NBSP before the digits", "HTTP/1.1 200 OK\r\nContent-Length: \xa05\r\n\r\nhello", 502],
  ["CL VT", "HTTP/1.1 200 OK\r\nContent-Length: 5\x0b\r\n\r\nhello", 502],
  ["CL NBSP on a 304", "HTTP/1.1 304 Not Modified\r\nContent-Length: \xa05\r\n\r\n", 502],
  [
    "two different CL",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    502,
  ],
  [
    "TE VT after chunked",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n",
    502,
  ],
  [
    "CL and TE",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    502,
  ],
  ["TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello", 502],
  ["TE on HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 502],
  [
    "CL in trailers",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 9\r\n\r\n",
    502,
  ],
  [
    "NUL in a trailer",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\x00\r\n\r\n",
    502,
  ],
];

function outcome(chunks: Uint8Array[], kind: "request" | "response" = "request"): number | "ok" {
  const p = new Http1Parser(kind);
  if (kind === "response") p.expectResponseTo("GET");
  try {
    for (const c of chunks) {
      p.push(c);
      while (p.next());
    }
    p.finish();
    while (p.next());
    return "ok";
  } catch (e) {
    if (e instanceof Http1ParseError) return e.status;
    throw e;
  }
}

for (const [name, input, status] of REJECT) {
  Deno.test(`bad input ${name} → ${status}`, () => {
    const bytes = Uint8Array.from(input, (c) => c.charCodeAt(0));
    assert.equal(outcome([bytes]), status, "whole");
    assert.equal(outcome([...bytes].map((b) => Uint8Array.of(b))), status, "byte by byte");
  });
}

for (const [name, input, status] of REJECT_RESPONSE) {
  Deno.test(`bad upstream response ${name} → ${status}`, () => {
    const bytes = Uint8Array.from(input, (c) => c.charCodeAt(0));
    assert.equal(outcome([bytes], "response"), status, "whole");
    assert.equal(
      outcome([...bytes].map((b) => Uint8Array.of(b)), "response"),
      status,
      "byte by byte",
    );
  });
}

Deno.test("bad input 6.2#3 the same CL repeated is one CL; 6.2#11 last chunk with an extension", () => {
  assert.equal(
    outcome([
      ascii("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ]),
    "ok",
  );
  assert.equal(
    outcome([
      ascii("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0;ext\r\n\r\n"),
    ]),
    "ok",
  );
});

Deno.test("framing fields with SP/HTAB around them, any case, and fine trailers are accepted", () => {
  for (
    const input of [
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t 5 \t\r\n\r\nhello",
      `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  CHUNKED\t\r\n${CHUNKED_BODY}`,
      "POST / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Foo\r\nContent-Length: 0\r\n\r\n",
      trailers("X-Checksum: abc\r\nServer-Timing: db;dur=53\t\r\n"),
    ]
  ) {
    const bytes = Uint8Array.from(input, (c) => c.charCodeAt(0));
    assert.equal(outcome([bytes]), "ok", JSON.stringify(input));
    assert.equal(outcome([...bytes].map((b) => Uint8Array.of(b))), "ok", JSON.stringify(input));
  }
});

Deno.test("bad input: clientIP takes a forwarding header only when it holds an IP address", () => {
  const peer = "192.0.2.1";
  const cases: [[string, string][], string][] = [
    [[["X-Forwarded-For", "198.51.100.7 (not me)"]], peer],
    [[["X-Forwarded-For", "198.51.100.7, 203.0.113.9"]], "198.51.100.7"],
    [[["X-Forwarded-For", " 2001:db8::1 ,10.0.0.1"]], "2001:db8::1"],
    [[["X-Forwarded-For", "\xa0198.51.100.7"]], peer],
    [[["X-Forwarded-For", "198.51.100.7:8080"]], peer],
    [[["X-Forwarded-For", "fe80::1%<b>"]], peer],
    [[["X-Forwarded-For", "999.1.1.1"]], peer],
    [[["CF-Connecting-IP", "<script>"], ["X-Forwarded-For", "198.51.100.7"]], peer],
    [[["CF-Connecting-IP", "203.0.113.5"], ["X-Forwarded-For", "198.51.100.7"]], "203.0.113.5"],
    [[["X-Real-Ip", "203.0.113.6"]], "203.0.113.6"],
    [[["X-Real-Ip", "localhost"]], peer],
    [[], peer],
  ];
  for (const [headers, want] of cases) {
    assert.equal(clientIPFrom(headers, peer), want, JSON.stringify(headers));
  }
});
