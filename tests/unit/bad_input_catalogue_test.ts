import assert from "node:assert/strict";
import { Http1ParseError, Http1Parser } from "../../src/sniff/http1/parser.ts";
import { ascii } from "../helpers/chunks.ts";

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
];

function outcome(chunks: Uint8Array[]): number | "ok" {
  const p = new Http1Parser("request");
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
