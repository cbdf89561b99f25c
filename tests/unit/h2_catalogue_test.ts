import assert from "node:assert/strict";
import { detectProtocol, H2_PREFACE } from "../../src/protocol/detect.ts";
import type { HttpExchange } from "../../src/sniff/exchange.ts";
import { H2Sniffer } from "../../src/sniff/http2/h2_sniffer.ts";
import { loadHpack } from "../../src/protocol/http2/hpack_decoder.ts";
import { ascii, concat } from "../helpers/chunks.ts";
import { encoder, frame, GET, headerFrames, literalBlock } from "../helpers/h2_frames.ts";

// The sniffer decodes HPACK with hpack.js, which snoop loads on first use.
await loadHpack();

/**
 * reliability-limits §6.3 (HTTP/2 frames and HPACK) for snoop's HTTP/2 sniffer. The sniffer
 * is passive: where an endpoint answers a connection error with GOAWAY, the sniffer stops
 * sniffing and the open streams' records carry the reason; where an endpoint resets a
 * malformed stream, that stream's record carries it; "ignore" rows leave it sniffing.
 * Rows about an endpoint's own timers and queues (#1's timeouts, #12/#13 queue limits, #16
 * floods, #24 zero-window stalls) do not apply: the sniffer reads a copy of what the relay
 * already moved and queues nothing. Each row is fed whole and (if small) one byte at a time.
 */

type Side = "c" | "s";
type Step = [Side, Uint8Array];
type Expect =
  | { connection: RegExp; limit?: boolean }
  | { stream: RegExp }
  | { clean: (done: HttpExchange[]) => void };

const preface = (): Step => ["c", ascii(H2_PREFACE)];
const settings = (entries: [number, number][] = [], flags = 0, stream = 0): Uint8Array => {
  const p = new Uint8Array(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.set([id >> 8, id & 0xff, v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff], i * 6);
  });
  return frame(4, flags, stream, p);
};
const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
const headers = (id: number, fields: [string, string][], flags = 0x5) =>
  frame(1, flags, id, literalBlock(fields));
const get = (id: number, flags = 0x5) => headers(id, GET(`/s${id}`), flags);
const ok200 = (id: number, flags = 0x5, extra: [string, string][] = []) =>
  headers(id, [[":status", "200"], ...extra], flags);
const data = (id: number, body: string, flags = 0x1) => frame(0, flags, id, ascii(body));
const raw = (id: number, block: number[], flags = 0x5) =>
  frame(1, flags, id, Uint8Array.from(block));

/** A request on stream 1 whose fields are `fields` (for the §8.2–8.3 rows). */
const request = (fields: [string, string][]): Step[] => [preface(), ["c", headers(1, fields)]];

const ROWS: [string, () => Step[], Expect][] = [
  ["#2 a DATA frame over the default SETTINGS_MAX_FRAME_SIZE", () => [
    preface(),
    ["c", get(1, 0x4)],
    ["c", data(1, "x".repeat(16385))],
  ], { connection: /client DATA of 16385 bytes over SETTINGS_MAX_FRAME_SIZE 16384/ }],
  ["#2 …allowed once the server raised SETTINGS_MAX_FRAME_SIZE", () => [
    preface(),
    ["s", settings([[5, 32768]])],
    ["c", get(1, 0x4)],
    ["c", data(1, "x".repeat(20000))],
    ["s", ok200(1)],
  ], { clean: (done) => assert.equal(done[0].requestBody.total, 20000) }],
  ["#3 an unknown frame type, undefined flags and the reserved bit are ignored", () => [
    preface(),
    ["c", frame(0xfa, 0xff, 0, Uint8Array.of(1, 2, 3))],
    ["c", frame(6, 0xfe, 0, new Uint8Array(8))],
    ["c", get(0x80000001)],
    ["s", ok200(1)],
  ], { clean: (done) => assert.equal(done[0].uri, "/s2147483649") }],
  ["#3 an unknown frame inside a header block", () => [
    preface(),
    ["c", get(1, 0x1)],
    ["c", frame(0xfa, 0, 0, new Uint8Array(0))],
  ], { connection: /expected CONTINUATION/ }],
  ["#4 PRIORITY inside a header block", () => [
    preface(),
    ["c", get(1, 0x1)],
    ["c", frame(2, 0, 1, new Uint8Array(5))],
  ], { connection: /expected CONTINUATION/ }],
  ["#4 HEADERS on another stream inside a header block", () => [
    preface(),
    ["c", get(1, 0x1)],
    ["c", get(3)],
  ], { connection: /expected CONTINUATION/ }],
  ["#4 CONTINUATION on another stream", () => [
    preface(),
    ["c", get(1, 0x1)],
    ["c", frame(9, 0x4, 3, new Uint8Array(0))],
  ], { connection: /unexpected CONTINUATION/ }],
  ["#5 CONTINUATION on stream 0", () => [preface(), ["c", frame(9, 0x4, 0, new Uint8Array(0))]], {
    connection: /CONTINUATION on stream 0/,
  }],
  ["#5 CONTINUATION after END_HEADERS", () => [
    preface(),
    ["c", get(1)],
    ["c", frame(9, 0x4, 1, new Uint8Array(0))],
  ], { connection: /unexpected CONTINUATION/ }],
  ["#5 CONTINUATION after DATA", () => [
    preface(),
    ["c", get(1, 0x4)],
    ["c", data(1, "x", 0)],
    ["c", frame(9, 0x4, 1, new Uint8Array(0))],
  ], { connection: /unexpected CONTINUATION/ }],
  ["#6 endless 1-byte CONTINUATION frames", () => [
    preface(),
    ["c", raw(1, [0x82], 0x1)],
    ["c", concat(Array.from({ length: 140_000 }, () => frame(9, 0, 1, Uint8Array.of(0x82))))],
  ], { connection: /header block too large/, limit: true }],
  ["#7 an even stream id from the client", () => [preface(), ["c", get(2)]], {
    connection: /client opened even stream 2/,
  }],
  ["#7 a stream id lower than the previous one", () => [preface(), ["c", get(5)], ["c", get(3)]], {
    connection: /stream 3 opened after 5/,
  }],
  ["#7 DATA on an idle stream", () => [preface(), ["c", data(7, "x")]], {
    connection: /DATA on idle stream 7/,
  }],
  ["#7 RST_STREAM on an idle stream", () => [preface(), ["c", frame(3, 0, 9, u32(8))]], {
    connection: /RST_STREAM on idle stream 9/,
  }],
  ["#7 WINDOW_UPDATE on an idle stream", () => [preface(), ["c", frame(8, 0, 11, u32(1))]], {
    connection: /WINDOW_UPDATE on idle stream 11/,
  }],
  ["#9 rapid reset: HEADERS + RST_STREAM x 600", () => [
    preface(),
    [
      "c",
      concat(
        Array.from(
          { length: 600 },
          (_, i) => concat([get(1 + 2 * i), frame(3, 0, 1 + 2 * i, u32(8))]),
        ),
      ),
    ],
  ], { connection: /rapid reset: 500 of 500 streams/, limit: true }],
  ["#10 malformed HEADERS (uppercase names) x 600 count as resets", () => [
    preface(),
    [
      "c",
      concat(
        Array.from({ length: 600 }, (_, i) => headers(1 + 2 * i, [...GET("/"), ["X-Upper", "1"]])),
      ),
    ],
  ], { connection: /rapid reset: 500 of 500 streams/, limit: true }],
  ["#11 empty DATA frames without END_STREAM x 10 000: nothing held", () => [
    preface(),
    ["c", get(1, 0x4)],
    ["c", concat(Array.from({ length: 10_000 }, () => data(1, "", 0)))],
    ["c", data(1, "")],
    ["s", ok200(1)],
  ], { clean: (done) => assert.equal(done[0].requestBody.total, 0) }],
  ["#12 PING x 100 000: read and dropped", () => [
    preface(),
    ["c", concat(Array.from({ length: 100_000 }, () => frame(6, 0, 0, new Uint8Array(8))))],
    ["c", get(1)],
    ["s", ok200(1)],
  ], { clean: (done) => assert.equal(done.length, 1) }],
  ["#13 an unsolicited SETTINGS ACK and a SETTINGS frame of 120 entries", () => [
    preface(),
    ["c", settings([], 0x1)],
    ["c", settings(Array.from({ length: 120 }, (): [number, number] => [3, 100]))],
    ["c", get(1)],
    ["s", ok200(1)],
  ], { clean: (done) => assert.equal(done.length, 1) }],
  ["#14 SETTINGS_ENABLE_PUSH 2", () => [preface(), ["c", settings([[2, 2]])]], {
    connection: /SETTINGS_ENABLE_PUSH 2/,
  }],
  ["#14 SETTINGS_INITIAL_WINDOW_SIZE 2^31", () => [preface(), ["c", settings([[4, 0x80000000]])]], {
    connection: /SETTINGS_INITIAL_WINDOW_SIZE 2147483648/,
  }],
  ["#14 SETTINGS_MAX_FRAME_SIZE 16383", () => [preface(), ["s", settings([[5, 16383]])]], {
    connection: /SETTINGS_MAX_FRAME_SIZE 16383/,
  }],
  ["#14 SETTINGS_MAX_FRAME_SIZE 2^24", () => [preface(), ["s", settings([[5, 1 << 24]])]], {
    connection: /SETTINGS_MAX_FRAME_SIZE 16777216/,
  }],
  ["#14 SETTINGS of length 7", () => [preface(), ["c", frame(4, 0, 0, new Uint8Array(7))]], {
    connection: /SETTINGS of length 7/,
  }],
  ["#14 SETTINGS ACK with a payload", () => [preface(), ["c", frame(4, 1, 0, new Uint8Array(6))]], {
    connection: /SETTINGS ACK with a payload/,
  }],
  ["#14 SETTINGS on stream 1", () => [preface(), ["c", settings([], 0, 1)]], {
    connection: /SETTINGS on stream 1/,
  }],
  ["#15 WINDOW_UPDATE with increment 0 on the connection", () => [
    preface(),
    ["c", frame(8, 0, 0, u32(0))],
  ], { connection: /WINDOW_UPDATE with increment 0/ }],
  ["#15 WINDOW_UPDATE with increment 0 on a stream", () => [
    preface(),
    ["c", get(1)],
    ["c", frame(8, 0, 1, u32(0))],
    ["s", ok200(1)],
  ], { stream: /malformed stream: client WINDOW_UPDATE with increment 0/ }],
  [
    "#15 WINDOW_UPDATE of length 3",
    () => [preface(), ["c", frame(8, 0, 0, Uint8Array.of(0, 0, 1))]],
    {
      connection: /WINDOW_UPDATE of length 3/,
    },
  ],
  ["#16 a stream that depends on itself", () => [
    preface(),
    ["c", get(1)],
    ["c", frame(2, 0, 1, Uint8Array.of(0, 0, 0, 1, 16))],
  ], { stream: /PRIORITY depends on itself/ }],
  ["#17 PING of length 7", () => [preface(), ["c", frame(6, 0, 0, new Uint8Array(7))]], {
    connection: /PING of length 7/,
  }],
  ["#17 PING on stream 1", () => [preface(), ["c", frame(6, 0, 1, new Uint8Array(8))]], {
    connection: /PING on stream 1/,
  }],
  [
    "#17 RST_STREAM of length 3",
    () => [preface(), ["c", get(1)], ["c", frame(3, 0, 1, new Uint8Array(3))]],
    {
      connection: /RST_STREAM of length 3/,
    },
  ],
  ["#17 RST_STREAM on stream 0", () => [preface(), ["c", frame(3, 0, 0, u32(8))]], {
    connection: /RST_STREAM on stream 0/,
  }],
  ["#17 PRIORITY of length 4", () => [preface(), ["c", frame(2, 0, 1, new Uint8Array(4))]], {
    connection: /PRIORITY of length 4/,
  }],
  ["#17 GOAWAY on stream 1", () => [preface(), ["c", frame(7, 0, 1, new Uint8Array(8))]], {
    connection: /GOAWAY on stream 1/,
  }],
  ["#17 padding longer than the frame", () => [
    preface(),
    ["c", get(1, 0x4)],
    ["c", frame(0, 0x8, 1, Uint8Array.of(9, 0x61))],
  ], { connection: /padding longer than the frame/ }],
  [
    "#18 PUSH_PROMISE from the client",
    () => [preface(), ["c", get(1)], ["c", frame(5, 0x4, 1, new Uint8Array(4))]],
    {
      connection: /PUSH_PROMISE from the client/,
    },
  ],
  ["#19 unknown pseudo-header :foo", () => request([...GET("/"), [":foo", "1"]]), {
    stream: /pseudo-header :foo in a request/,
  }],
  ["#19 :status in a request", () => request([[":status", "200"], ...GET("/")]), {
    stream: /pseudo-header :status in a request/,
  }],
  [
    "#19 a pseudo-header after a regular field",
    () => request([[":method", "GET"], ["accept", "*/*"], [":scheme", "http"], [":path", "/"]]),
    {
      stream: /pseudo-header :scheme after a regular field/,
    },
  ],
  ["#19 a duplicated :path", () => request([...GET("/"), [":path", "/again"]]), {
    stream: /duplicate :path/,
  }],
  ...([":method", ":scheme", ":path"] as const).map((missing): [string, () => Step[], Expect] => [
    `#19 a request without ${missing}`,
    () => request(GET("/").filter(([n]) => n !== missing)),
    { stream: new RegExp(`request without ${missing}`) },
  ]),
  ["#19 an empty :path", () => request(GET("")), { stream: /empty :path/ }],
  [
    "#19 CONNECT with :path",
    () => request([[":method", "CONNECT"], [":authority", "a.test:443"], [":path", "/"]]),
    {
      stream: /CONNECT with :scheme or :path/,
    },
  ],
  ["#19 a pseudo-header in trailers", () => [
    preface(),
    ["c", get(1, 0x4)],
    ["c", headers(1, [[":path", "/t"]], 0x5)],
  ], { stream: /request trailers: pseudo-header :path in trailers/ }],
  ...["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"].map(
    (name): [string, () => Step[], Expect] => [
      `#20 connection-specific field ${name}`,
      () => request([...GET("/"), [name, "x"]]),
      { stream: new RegExp(`connection-specific field ${name}`) },
    ],
  ),
  ["#20 te other than trailers", () => request([...GET("/"), ["te", "gzip"]]), {
    stream: /te: gzip/,
  }],
  [
    "#20 te: trailers is fine",
    () => [...request([...GET("/"), ["te", "trailers"]]), ["s", ok200(1)]],
    {
      clean: (done) => assert.equal(done[0].error, undefined),
    },
  ],
  ["#21 an uppercase field name", () => request([...GET("/"), ["X-Upper", "1"]]), {
    stream: /"X-Upper" is not a lowercase token/,
  }],
  ...[["CR", "a\rb"], ["LF", "a\nb"], ["NUL", "a\0b"]].map((
    [what, value],
  ): [string, () => Step[], Expect] => [
    `#21 ${what} in a value`,
    () => request([...GET("/"), ["x", value]]),
    { stream: /field x holds CR, LF or NUL/ },
  ]),
  ["#21 NUL in a name", () => request([...GET("/"), ["x\0y", "1"]]), {
    stream: /not a lowercase token/,
  }],
  ["#21 leading whitespace in a value", () => request([...GET("/"), ["x", " v"]]), {
    stream: /surrounding whitespace/,
  }],
  ["#21 trailing whitespace in a value", () => request([...GET("/"), ["x", "v\t"]]), {
    stream: /surrounding whitespace/,
  }],
  ["#21 an empty name", () => request([...GET("/"), ["", "v"]]), { stream: /empty field name/ }],
  ["#22 request content-length 5, one DATA frame of 3", () => [
    preface(),
    ["c", headers(1, [...GET("/"), ["content-length", "5"]], 0x4)],
    ["c", data(1, "abc")],
  ], { stream: /request: content-length 5 but 3 bytes of DATA/ }],
  ["#22 request content-length 2, DATA frames of 2 + 2", () => [
    preface(),
    ["c", headers(1, [...GET("/"), ["content-length", "2"]], 0x4)],
    ["c", data(1, "ab", 0)],
    ["c", data(1, "cd")],
  ], { stream: /request: content-length 2 but 4 bytes of DATA/ }],
  ["#22 response content-length 10, 4 bytes of DATA", () => [
    preface(),
    ["c", get(1)],
    ["s", ok200(1, 0x4, [["content-length", "10"]])],
    ["s", data(1, "four")],
  ], { stream: /response: content-length 10 but 4 bytes of DATA/ }],
  ["#22 …a HEAD response with content-length and no DATA is fine", () => [
    preface(),
    ["c", headers(1, [[":method", "HEAD"], [":scheme", "http"], [":path", "/"]])],
    ["s", ok200(1, 0x5, [["content-length", "10"]])],
  ], { clean: (done) => assert.equal(done[0].error, undefined) }],
  ["#23 a second request HEADERS without END_STREAM", () => [
    preface(),
    ["c", get(1, 0x4)],
    ["c", headers(1, [["x-more", "1"]], 0x4)],
  ], { stream: /request: second HEADERS without END_STREAM/ }],
  ["#23 a second response HEADERS without END_STREAM", () => [
    preface(),
    ["c", get(1)],
    ["s", ok200(1, 0x4)],
    ["s", headers(1, [["x-more", "1"]], 0x4)],
  ], { stream: /response: second HEADERS without END_STREAM/ }],
  ["#25 HPACK indexed field 0", () => [preface(), ["c", raw(1, [0x80])]], {
    connection: /Zero indexed field/,
  }],
  ["#25 HPACK index past the table", () => [preface(), ["c", raw(1, [0xff, 0x00])]], {
    connection: /Indexed field OOB/,
  }],
  [
    "#25 HPACK literal with a bad name index",
    () => [preface(), ["c", raw(1, [0x7f, 0x10, 0x01, 0x61])]],
    {
      connection: /Indexed field OOB/,
    },
  ],
  [
    "#25 HPACK integer over 32 bits",
    () => [preface(), ["c", raw(1, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])]],
    {
      connection: /does not fit/,
    },
  ],
  ["#25 HPACK string past the block", () => [preface(), ["c", raw(1, [0x40, 0x0a, 0x61])]], {
    connection: /Not enough octets/,
  }],
  [
    "#26 Huffman with EOS",
    () => [preface(), ["c", raw(1, [0x40, 0x84, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61])]],
    {
      connection: /EOS/,
    },
  ],
  [
    "#26 Huffman padding over 7 bits",
    () => [preface(), ["c", raw(1, [0x40, 0x82, 0x1f, 0xff, 0x01, 0x61])]],
    {
      connection: /EOS/,
    },
  ],
  [
    "#26 Huffman padding not all ones",
    () => [preface(), ["c", raw(1, [0x40, 0x81, 0x18, 0x01, 0x61])]],
    {
      connection: /not EOS/,
    },
  ],
  ["#27 a table size update over SETTINGS_HEADER_TABLE_SIZE", () => [
    preface(),
    ["c", raw(1, [0x3f, 0xe2, 0x1f, 0x82])],
  ], { connection: /Table size bigger than maximum/ }],
  ["#27 a table size update after a field", () => [preface(), ["c", raw(1, [0x82, 0x20])]], {
    connection: /table size update after the first field/,
  }],
  ["#28 HPACK bomb: a 4 KB value referenced 100 times", () => {
    const enc = encoder();
    return [preface(), [
      "c",
      frame(
        1,
        0x5,
        1,
        enc([
          ...GET("/"),
          ...Array.from({ length: 100 }, (): [string, string] => ["x-bomb", "b".repeat(4000)]),
        ]),
      ),
    ]];
  }, { connection: /header list too large/, limit: true }],
  ["#28 HTTP/2 bomb: 10 000 one-byte indexed references", () => [
    preface(),
    ["c", raw(1, [0x82, 0x86, 0x84, 0x41, 1, 0x61, ...new Array(10_000).fill(0x82)])],
  ], { connection: /header list too large/, limit: true }],
  ["#28 a cookie split into 10 000 crumbs", () => {
    const enc = encoder();
    return [preface(), [
      "c",
      headerFrames(
        1,
        enc([
          ...GET("/"),
          ...Array.from({ length: 10_000 }, (_, i): [string, string] => ["cookie", `c${i}=1`]),
        ]),
      ),
    ]];
  }, { connection: /header list too large/, limit: true }],
];

function run(steps: Step[], byteByByte: boolean): { s: H2Sniffer; done: HttpExchange[] } {
  const done: HttpExchange[] = [];
  const s = new H2Sniffer({ body: false, maxBodySize: 0 }, (ex) => done.push(ex));
  for (const [side, bytes] of steps) {
    const push = (b: Uint8Array) => side === "c" ? s.client(b) : s.server(b);
    if (!byteByByte) push(bytes);
    else for (let i = 0; i < bytes.length; i++) push(bytes.subarray(i, i + 1));
  }
  s.finish();
  return { s, done };
}

for (const [name, steps, expected] of ROWS) {
  Deno.test(`h2 catalogue 6.3${name}`, () => {
    const input = steps();
    const small = input.reduce((n, [, b]) => n + b.length, 0) < 20_000;
    for (const byteByByte of small ? [false, true] : [false]) {
      const how = byteByByte ? "1 byte/read" : "whole";
      const { s, done } = run(input, byteByByte);
      if ("connection" in expected) {
        assert.match(s.failed ?? "(sniffing went on)", expected.connection, `${how}: ${s.failed}`);
        assert.equal(s.limitHit, expected.limit ?? false, `${how}: counted as a limit`);
      } else if ("stream" in expected) {
        assert.equal(s.failed, undefined, `${how}: a stream error leaves sniffing on`);
        assert.ok(done.length >= 1, `${how}: the stream is recorded`);
        assert.match(done[0].error ?? "(no error)", expected.stream, how);
      } else {
        assert.equal(s.failed, undefined, how);
        expected.clean(done);
      }
    }
  });
}

Deno.test("h2 catalogue 6.3#1 a broken preface is not taken for HTTP/2", () => {
  assert.equal(detectProtocol(ascii(H2_PREFACE)), "h2");
  assert.notEqual(detectProtocol(ascii(H2_PREFACE.replace("SM", "XX"))), "h2");
});

Deno.test("h2 catalogue 6.3#29 a header block split across CONTINUATION at every offset decodes the same", () => {
  const block = literalBlock([...GET("/split"), ["x-a", "1"], ["x-b", "two"]]);
  for (let cut = 0; cut <= block.length; cut++) {
    const { s, done } = run([
      preface(),
      ["c", frame(1, 0x1, 1, block.subarray(0, cut))],
      ["c", frame(9, 0x4, 1, block.subarray(cut))],
      ["s", ok200(1)],
    ], false);
    assert.equal(s.failed, undefined, `cut at ${cut}`);
    assert.equal(done[0].uri, "/split");
    assert.deepEqual(done[0].requestHeaders, [["x-a", "1"], ["x-b", "two"]]);
  }
});
