/**
 * `deno task bench hotpath`: the per-request work of compare (a)'s load in a loop,
 * in-process, so a change to it can be measured without the noise of four processes on two
 * cores: parsing the three heads a recorded request costs (wrk's GET, nginx's 200 with its
 * 1 KiB body, the recorder endpoint's 204), and turning the request's record into the JSON
 * the recorders get. Medians of 5 rounds, µs per operation.
 */
import { headerValue, Http1Parser } from "../src/protocol/http1/parser.ts";
import { joinHostPort } from "../src/net/address.ts";
import { newSid } from "../src/record/sid.ts";
import { wholeString } from "../src/util/text.ts";
import { headerMap } from "../src/protocol/http1/headers.ts";
import type { HandlerRecord } from "../src/record/record.ts";
import { recordToJSON } from "../src/record/record.ts";
import { redactRecord } from "../src/record/redaction.ts";
import { DEFAULT_CAPTURE } from "../src/recorder/sink.ts";
import { median } from "./lib/stats.ts";

const encoder = new TextEncoder();
const ROUNDS = 5;

const REQUEST = "GET http://127.0.0.1:18080/1k HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n" +
  "User-Agent: wrk\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n";
const RESPONSE = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n" +
  "Date: Fri, 27 Nov 2026 21:38:41 GMT\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n" +
  "Last-Modified: Fri, 27 Nov 2026 21:13:23 GMT\r\nConnection: keep-alive\r\n" +
  'ETag: "6b09f273-400"\r\nAccept-Ranges: bytes\r\n\r\n' + "x".repeat(1024);
const NO_CONTENT = "HTTP/1.1 204 No Content\r\nServer: nginx/1.22.1\r\n" +
  "Date: Fri, 27 Nov 2026 21:38:41 GMT\r\nConnection: keep-alive\r\n\r\n";

/** µs per call of `op`, median of the rounds (the first round warms up and is dropped). */
function timed(n: number, op: (i: number) => void): number {
  const rounds: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) op(i);
    if (round > 0) rounds.push(((performance.now() - t0) * 1000) / n);
  }
  return median(rounds);
}

/** Parses one message again and again, as a kept-alive connection's parser does. */
function parseLoop(kind: "request" | "response", text: string, method?: string) {
  const bytes = encoder.encode(text);
  const parser = new Http1Parser(kind);
  return () => {
    if (method) parser.expectResponseTo(method);
    parser.push(bytes);
    while (parser.next() !== null);
  };
}

function headOf(kind: "request" | "response", text: string, method?: string) {
  const parser = new Http1Parser(kind);
  if (method) parser.expectResponseTo(method);
  parser.push(encoder.encode(text));
  const ev = parser.next();
  if (ev?.type !== "head") throw new Error("no head");
  return ev.head;
}

const request = headOf("request", REQUEST), response = headOf("response", RESPONSE, "GET");
/**
 * The record of one request of (a)'s load, as the HTTP handler fills it in, with strings made
 * the way it makes them (see `wholeString`: `JSON.stringify` is twice as slow without).
 */
function record(i: number): HandlerRecord {
  const remote = joinHostPort("127.0.0.1", 40000 + (i % 1000));
  const upstream = joinHostPort("127.0.0.1", 18080);
  return {
    service: "bench",
    network: "tcp",
    remote,
    local: joinHostPort("127.0.0.1", 18085),
    client: remote,
    src: joinHostPort("127.0.0.1", 57030),
    dst: upstream,
    host: upstream,
    proto: "http",
    clientIP: "127.0.0.1",
    http: {
      host: wholeString(headerValue(request, "host")!),
      method: request.method,
      proto: request.version,
      scheme: "http",
      uri: wholeString(request.target),
      statusCode: response.status,
      request: { contentLength: 0, header: headerMap(request.headers, true), body: null },
      response: { contentLength: 1024, header: headerMap(response.headers), body: null },
    },
    route: upstream,
    inputBytes: 125,
    outputBytes: 1240,
    sid: newSid(),
    duration: 3442266,
    time: BigInt(Date.now()) * 1_000_000n + BigInt(i),
  };
}

const N = 100_000;
const records = Array.from({ length: 10_000 }, (_, i) => record(i));
const redaction = DEFAULT_CAPTURE.redaction!;
const rows: [string, number][] = [
  ["parse wrk's GET head", timed(N, parseLoop("request", REQUEST))],
  ["parse nginx's 200 head and 1 KiB body", timed(N, parseLoop("response", RESPONSE, "GET"))],
  ["parse the endpoint's 204 head", timed(N, parseLoop("response", NO_CONTENT, "POST"))],
  [
    "header maps of the record (request and response)",
    timed(N, () => {
      headerMap(request.headers, true);
      headerMap(response.headers);
    }),
  ],
  [
    "redact the record (nothing to redact)",
    timed(N, (i) => redactRecord(records[i % 10_000], redaction)),
  ],
  ["record to JSON", timed(N, (i) => recordToJSON(records[i % 10_000]))],
  [
    // The http recorder encodes a batch at once (45 records on average under (a)'s load):
    // a Uint8Array per record would cost more than the JSON (1.5-3.5 µs each in Deno 2.9).
    "record to JSON, UTF-8 encoded in batches of 45",
    timed(N / 45, (i) => {
      let batch = "";
      for (let k = 0; k < 45; k++) batch += recordToJSON(records[(i * 45 + k) % 10_000]);
      encoder.encode(batch);
    }) / 45,
  ],
];
console.log(
  `\n### hot path in a loop: µs per operation, median of ${ROUNDS} rounds of ${
    N.toLocaleString("en")
  }\n`,
);
console.log("| operation | µs |\n|---|---:|");
for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(2)} |`);
