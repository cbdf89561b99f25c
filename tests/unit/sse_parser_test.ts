import assert from "node:assert/strict";

const assertEquals = (a: unknown, b: unknown, msg?: string) => assert.deepEqual(a, b, msg);
import { type SseEvent, SseParser } from "../../src/protocol/sse/event_parser.ts";

const enc = new TextEncoder();

function parseIn(chunks: Uint8Array[], max = 1 << 20): SseEvent[] {
  const p = new SseParser(max);
  const out: SseEvent[] = [];
  for (const c of chunks) p.push(c, (e) => out.push(e));
  return out;
}

/**
 * Every way of cutting `bytes` in two, and in three at neighbouring points, gives `want`.
 * Byte counts are exact per event except around a bare CR that ends a chunk and an event
 * (the parser counts the LF that usually follows with that event): their sum is exact.
 */
function assertEverySplit(bytes: Uint8Array, want: SseEvent[], max?: number) {
  assertEquals(parseIn([bytes], max), want, "whole");
  const total = (es: SseEvent[]) => es.reduce((n, e) => n + e.wireLength, 0);
  const same = (got: SseEvent[], what: string) => {
    const strip = (es: SseEvent[]) => es.map(({ wireLength: _w, ...e }) => e);
    assertEquals(strip(got), strip(want), what);
    assertEquals(total(got), total(want), what);
  };
  for (let i = 0; i <= bytes.length; i++) {
    same(parseIn([bytes.subarray(0, i), bytes.subarray(i)], max), `split at ${i}`);
    for (let j = i; j <= Math.min(bytes.length, i + 3); j++) {
      const three = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
      same(parseIn(three, max), `split at ${i} and ${j}`);
    }
  }
  // One byte at a time.
  same(parseIn([...bytes].map((b) => Uint8Array.of(b)), max), "bytewise");
}

const ev = (e: Partial<SseEvent>): SseEvent => ({
  event: "",
  data: "",
  id: null,
  retry: null,
  comment: null,
  truncated: false,
  wireLength: 0,
  ...e,
});

Deno.test("sse: fields, comments, multi-line data and every line ending, at every split", () => {
  const text = "\uFEFF: hello\r\n" +
    "event: tick\r\ndata: one\r\ndata:two\r\nid: 7\r\nretry: 1500\r\n\r\n" +
    "data: é and ☃\n\n" +
    "data: cr\rid\r\r" +
    ": keep-alive only\n\n" +
    "retry: soon\nid: a\0b\nfoo: bar\ndata\n\n" +
    "data: no blank line at the end";
  const bytes = enc.encode(text);
  const first = enc.encode(
    "\uFEFF: hello\r\nevent: tick\r\ndata: one\r\ndata:two\r\nid: 7\r\nretry: 1500\r\n\r\n",
  ).length;
  assertEverySplit(bytes, [
    ev({
      event: "tick",
      data: "one\ntwo",
      id: "7",
      retry: 1500,
      comment: "hello",
      wireLength: first,
    }),
    ev({ data: "é and ☃", wireLength: enc.encode("data: é and ☃\n\n").length }),
    // `id` with no colon is the field with an empty value.
    ev({ data: "cr", id: "", wireLength: 13 }),
    // A comment-only block is no event; its bytes count toward the next one. An id with
    // NUL and a retry that is not digits are ignored; `data` alone is an empty data line.
    ev({
      data: "",
      wireLength: enc.encode(": keep-alive only\n\nretry: soon\nid: a\0b\nfoo: bar\ndata\n\n")
        .length,
    }),
  ]);
});

Deno.test("sse: an event over the cap is cut, marked, and the stream goes on", () => {
  const big = "x".repeat(5000);
  const bytes = enc.encode(`data: ${big}\ndata: more\n\ndata: next\n\n`);
  const events = parseIn([bytes], 1024);
  assertEquals(events.length, 2);
  assertEquals(events[0].truncated, true);
  assertEquals(events[0].data.length <= 1024, true);
  assertEquals(events[0].data.startsWith("xxxx"), true);
  assertEquals(events[0].wireLength, 6 + 5000 + 1 + 11 + 1);
  assertEquals(events[1], ev({ data: "next", wireLength: 12 }));
  // The same cut wherever the chunks split.
  for (const at of [1, 7, 1000, 1024, 1030, 5006, 5007, 5010]) {
    assertEquals(parseIn([bytes.subarray(0, at), bytes.subarray(at)], 1024), events, `at ${at}`);
  }
});

Deno.test("sse: a line of only non-kept bytes does not end the event", () => {
  // The cap is spent on the first line; the second line keeps nothing but is not blank.
  const bytes = enc.encode(`data: ${"y".repeat(30)}\ndata: z\nevent: e\n\n`);
  const events = parseIn([bytes], 16);
  assertEquals(events.length, 1);
  assertEquals(events[0].truncated, true);
  assertEquals(events[0].wireLength, bytes.length);
});
