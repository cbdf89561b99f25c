/**
 * Properties every parser must keep on any input, since every byte it reads is hostile: random
 * and mutated valid inputs, fed in random pieces, never throw anything but the parser's own
 * error, give the same result however the bytes are split, and stay within their caps.
 * `parsers_fuzz_test.ts` runs each a bounded number of times; `deno task fuzz` runs longer.
 */
import fc from "fast-check";
import { Buffer } from "node:buffer";
import hpack from "hpack.js";
import { ConfigError } from "../../src/config/config_error.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { detectProtocol, H2_PREFACE } from "../../src/protocol/detect.ts";
import { decodeMessage, messageText, questionFields } from "../../src/protocol/dns/message.ts";
import { H2_SNIFF_LIMITS, H2Sniffer } from "../../src/sniff/http2/h2_sniffer.ts";
import { HpackDecoder, loadHpack } from "../../src/protocol/http2/hpack_decoder.ts";
import { Http1ParseError, Http1Parser } from "../../src/protocol/http1/parser.ts";
import { newClientHelloReader, newServerHelloReader } from "../../src/protocol/tls/hello.ts";
import { WsFrameParser } from "../../src/protocol/websocket/frame_parser.ts";

// The sniffer decodes HPACK with hpack.js, which snoop loads on first use.
await loadHpack();

const enc = new TextEncoder();
const hex = (h: string) => Uint8Array.from(h.trim().match(/../g)!.map((b) => parseInt(b, 16)));
const fixture = (name: string) => new URL(`../../tests/fixtures/${name}`, import.meta.url);

/** Valid inputs the mutations start from (the seed corpus). */
export const CORPUS = {
  http1Requests: [
    "GET http://a.test/x?y=1 HTTP/1.1\r\nHost: a.test\r\nUser-Agent: t\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
    "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
  ].map((s) => enc.encode(s)),
  http1Responses: [
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.0 200 OK\r\n\r\nuntil close",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
  ].map((s) => enc.encode(s)),
  clientHellos: [hex(Deno.readTextFileSync(fixture("seed_client_hello.hex")))],
  serverHellos: [hex(Deno.readTextFileSync(fixture("seed_server_hello.hex")))],
  dns: [
    // id 0x1234, RD, one question: example.com A IN.
    hex("123401000001000000000000076578616d706c6503636f6d0000010001"),
    // A response with a compressed answer pointing back at the question.
    hex(
      "123481800001000100000000076578616d706c6503636f6d0000010001c00c000100010000003c00045db8d822",
    ),
  ],
  websocket: [
    Uint8Array.of(0x81, 0x85, 1, 2, 3, 4, 0x49, 0x67, 0x6f, 0x68, 0x6e), // masked text "Hello"
    Uint8Array.of(0x82, 0x7e, 0x01, 0x00, ...new Uint8Array(256)), // 256-byte binary, 16-bit length
    Uint8Array.of(0x88, 0x02, 0x03, 0xe8, 0x89, 0x00, 0x8a, 0x00), // close 1000, ping, pong
  ],
  configs: [
    Deno.readTextFileSync(new URL("../../examples/seed-sniffing.yaml", import.meta.url)),
    Deno.readTextFileSync(new URL("../../examples/seed-mitm.yaml", import.meta.url)),
  ],
};

/** A valid h2 client transcript: preface, SETTINGS, a request over HEADERS + CONTINUATION. */
function h2Transcript(): { client: Uint8Array; server: Uint8Array } {
  const frame = (type: number, flags: number, id: number, p: Uint8Array) =>
    Uint8Array.from([
      p.length >> 16,
      (p.length >> 8) & 255,
      p.length & 255,
      type,
      flags,
      id >>> 24,
      (id >> 16) & 255,
      (id >> 8) & 255,
      id & 255,
      ...p,
    ]);
  const block = (headers: [string, string][]) => {
    const c = hpack.compressor.create({ table: { size: 4096 } });
    c.write(headers.map(([name, value]) => ({ name, value })));
    return new Uint8Array(c.read() as Buffer);
  };
  const req = block([[":method", "GET"], [":scheme", "http"], [":authority", "a"], [
    ":path",
    "/",
  ]]);
  const client = Uint8Array.from([
    ...enc.encode(H2_PREFACE),
    ...frame(4, 0, 0, Uint8Array.of(0, 1, 0, 0, 0x10, 0)),
    ...frame(1, 0x1, 1, req.subarray(0, 3)),
    ...frame(9, 0x4, 1, req.subarray(3)),
    ...frame(3, 0, 3, Uint8Array.of(0, 0, 0, 8)),
  ]);
  const server = Uint8Array.from([
    ...frame(4, 0, 0, new Uint8Array(0)),
    ...frame(1, 0x4, 1, block([[":status", "200"], ["content-type", "text/plain"]])),
    ...frame(0, 0x9, 1, Uint8Array.of(2, 104, 105, 0, 0)),
  ]);
  return { client, server };
}

/** One edit of a byte string: what mutation fuzzers do to a valid input. */
const mutation = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ maxLength: 16 }),
  }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), length: fc.nat(16) }),
  fc.record({ op: fc.constant("repeat" as const), at: fc.nat(), length: fc.nat(64) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function applyMutation(b: Uint8Array, m: Mutation): Uint8Array {
  const at = b.length ? m.at % (b.length + 1) : 0;
  switch (m.op) {
    case "flip":
      if (!b.length) return b;
      return b.map((x, i) => i === at % b.length ? x ^ (1 << m.bit) : x);
    case "set":
      if (!b.length) return b;
      return b.map((x, i) => i === at % b.length ? m.value : x);
    case "insert":
      return Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    case "delete":
      return Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.length)]);
    case "repeat": {
      const piece = b.subarray(at, at + m.length);
      return Uint8Array.from([...b.subarray(0, at), ...piece, ...piece, ...b.subarray(at)]);
    }
    case "truncate":
      return b.subarray(0, at);
  }
}

/** Valid inputs from `seeds`, mutated a few times, or now and then plain random bytes. */
export function mutated(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { maxLength: 4 }))
        .map(([seed, ms]) => ms.reduce(applyMutation, seed)),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
  );
}

/** Bytes cut into pieces at random points (a TCP stream's reads). */
export function pieces(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  return out;
}

const cuts = fc.array(fc.nat(), { maxLength: 8 });

/** What an HTTP/1 parser made of a byte stream: events in order, or its error. */
function http1Outcome(kind: "request" | "response", chunks: Uint8Array[], method = "GET") {
  const p = new Http1Parser(kind, { maxHeaderBytes: 4096, maxHeaderCount: 20 });
  if (kind === "response") p.expectResponseTo(method);
  const events: string[] = [];
  const drain = () => {
    for (let ev = p.next(); ev; ev = p.next()) {
      if (ev.type === "head") {
        events.push(`head ${ev.head.method ?? ""} ${ev.head.target ?? ""} ${ev.head.status ?? ""}`);
        if (ev.head.method === "CONNECT" || ev.head.status === 101) return "switched";
        if (kind === "response" && ev.head.status === 100) p.expectResponseTo(method);
      } else if (ev.type === "body") events.push(`body ${String.fromCharCode(...ev.data)}`); // bytes, not UTF-8: a split may cut a character
      else events.push(ev.type);
    }
    return "";
  };
  try {
    for (const c of chunks) {
      p.push(c);
      if (drain() === "switched") return events;
    }
    p.finish();
    drain();
    return events;
  } catch (e) {
    if (!(e instanceof Http1ParseError)) throw e;
    return [...events, `error ${e.status} ${e.message}`];
  }
}

/** Merges adjacent body events (a split changes how a body is cut, not what it says). */
const normalizeBodies = (events: string[]) =>
  JSON.stringify(events.reduce<string[]>((out, ev) => {
    const last = out[out.length - 1];
    if (ev.startsWith("body ") && last?.startsWith("body ")) {
      out[out.length - 1] = last + ev.slice(5);
    } else if (ev !== "body ") out.push(ev);
    return out;
  }, []));

export interface NamedProperty {
  name: string;
  property: fc.IPropertyWithHooks<unknown[]> | fc.IProperty<unknown[]>;
}

// deno-lint-ignore no-explicit-any
const prop = (name: string, property: any): NamedProperty => ({ name, property });

export const PROPERTIES: NamedProperty[] = [
  prop(
    "http/1 requests: only Http1ParseError, and the same result however the bytes are split",
    fc.property(mutated(CORPUS.http1Requests), cuts, (bytes, cut) => {
      const whole = normalizeBodies(http1Outcome("request", [bytes]));
      const split = normalizeBodies(http1Outcome("request", pieces(bytes, cut)));
      if (whole !== split) throw new Error(`split changed the result:\n${whole}\n${split}`);
    }),
  ),
  prop(
    "http/1 responses: only Http1ParseError, and the same result however the bytes are split",
    fc.property(
      mutated(CORPUS.http1Responses),
      cuts,
      fc.constantFrom("GET", "HEAD", "POST"),
      (bytes, cut, method) => {
        const whole = normalizeBodies(http1Outcome("response", [bytes], method));
        const split = normalizeBodies(http1Outcome("response", pieces(bytes, cut), method));
        if (whole !== split) throw new Error(`split changed the result:\n${whole}\n${split}`);
      },
    ),
  ),
  prop(
    "tls hellos: a status, never an exception, the same for any split, capped in size",
    fc.property(
      mutated([...CORPUS.clientHellos, ...CORPUS.serverHellos]),
      cuts,
      fc.boolean(),
      (bytes, cut, client) => {
        const read = (chunks: Uint8Array[]) => {
          const r = client ? newClientHelloReader() : newServerHelloReader();
          let result = r.result;
          for (const c of chunks) result = r.push(c);
          return JSON.stringify(result, (_k, v) => v instanceof Uint8Array ? v.length : v);
        };
        const whole = read([bytes]), split = read(pieces(bytes, cut));
        if (whole !== split) throw new Error(`split changed the result:\n${whole}\n${split}`);
      },
    ),
  ),
  prop(
    "dns: decoding throws only RangeError; a decoded message always yields record fields",
    fc.property(mutated(CORPUS.dns), (bytes) => {
      let msg;
      try {
        msg = decodeMessage(bytes);
      } catch (e) {
        if (e instanceof RangeError) return;
        throw e;
      }
      questionFields(msg);
      messageText(msg);
    }),
  ),
  prop(
    "websocket frames: never throws, keeps at most maxPayload bytes of any frame",
    fc.property(mutated(CORPUS.websocket), cuts, fc.nat(300), (bytes, cut, max) => {
      const p = new WsFrameParser(max);
      for (const c of pieces(bytes, cut)) {
        p.push(c, (f) => {
          if (f.payload.length > max) throw new Error(`kept ${f.payload.length} > ${max}`);
        });
      }
    }),
  ),
  prop(
    "http/2 sniffer: never throws; a failure is reported as http2: …",
    fc.property(
      fc.tuple(
        mutated([h2Transcript().client]),
        mutated([h2Transcript().server]),
      ),
      cuts,
      ([client, server], cut) => {
        const s = new H2Sniffer({ body: true, maxBodySize: 64 }, (ex) => {
          for (const body of [ex.requestBody, ex.responseBody]) {
            const kept = Buffer.from(body.base64() ?? "", "base64").length;
            if (kept > 64) throw new Error(`kept ${kept} body bytes, over the capture cap`);
          }
        });
        for (const c of pieces(client, cut)) s.client(c);
        for (const c of pieces(server, cut)) s.server(c);
        s.finish();
        if (s.failed !== undefined && !s.failed.startsWith("http2: ")) throw new Error(s.failed);
      },
    ),
  ),
  prop(
    "hpack: random blocks decode or throw an Error; the decoded list stays within its cap",
    fc.property(fc.array(fc.uint8Array({ maxLength: 256 }), { maxLength: 4 }), (blocks) => {
      const d = new HpackDecoder(H2_SNIFF_LIMITS.maxHeaderListBytes);
      for (const b of blocks) {
        let fields: [string, string][];
        try {
          fields = d.decode(b);
        } catch (e) {
          if (e instanceof Error) return;
          throw new Error(`threw a non-Error: ${String(e)}`);
        }
        const size = fields.reduce((n, [k, v]) => n + k.length + v.length + 32, 0);
        if (size > H2_SNIFF_LIMITS.maxHeaderListBytes) throw new Error(`list of ${size} bytes`);
      }
    }),
  ),
  prop(
    "protocol detection: never throws on any prefix",
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      detectProtocol(bytes);
    }),
  ),
  prop(
    "config loader: any edit of a valid config loads or throws a ConfigError",
    fc.property(
      mutated(CORPUS.configs.map((c) => enc.encode(c))),
      (bytes) => {
        const text = new TextDecoder().decode(bytes);
        try {
          parseConfigText("fuzz.yaml", text);
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
        }
      },
    ),
  ),
];
