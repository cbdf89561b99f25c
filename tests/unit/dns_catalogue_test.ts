import assert from "node:assert/strict";
import dnsPacket from "dns-packet";
import {
  decodeMessage,
  MAX_LISTED,
  messageText,
  questionFields,
  sameQuestion,
} from "../../src/protocol/dns/message.ts";

/**
 * reliability-limits §6.5 (DNS packets, proxy and sniffer) as a table of wire messages.
 * The TCP framing rows (#1), the spoofed reply (#12) and QDCOUNT 0 through the handler (#8)
 * are end-to-end in tests/e2e/dns_catalogue_test.ts.
 */

const header = (qd: number, an = 0, ns = 0, ar = 0) => [0, 1, 1, 0, 0, qd, 0, an, 0, ns, 0, ar];
const question = [1, 0x61, 0, 0, 1, 0, 1]; // a. IN A
/** A record owned by a pointer to the question's name, with this type and rdata. */
const rr = (type: number, rdata: number[], rdlength = rdata.length) => [
  0xc0,
  12,
  0,
  type,
  0,
  1,
  0,
  0,
  0,
  60,
  rdlength >> 8,
  rdlength & 0xff,
  ...rdata,
];
const opt = (name: number[], rdata: number[] = []) => [
  ...name,
  0,
  41,
  16,
  0,
  0,
  0,
  0,
  0,
  rdata.length >> 8,
  rdata.length & 0xff,
  ...rdata,
];
const label = (n: number, byte = 0x61) => [n, ...new Array(n).fill(byte)];

const REJECT: [string, number[], RegExp][] = [
  ["6.5#1 zero bytes", [], /12-byte header/],
  ["6.5#1 eleven bytes", header(1).slice(0, 11), /12-byte header/],
  ["6.5#2 pointer to itself", [...header(1), 0xc0, 12, 0, 1, 0, 1], /backwards/],
  [
    "6.5#2 A -> B -> A",
    [...header(2), 0xc0, 18, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1],
    /backwards/,
  ],
  [
    "6.5#2 a chain of 11 pointers",
    [
      ...header(12),
      ...question,
      ...Array.from(
        { length: 11 },
        (_, i) => [0xc0, 12 + (i === 0 ? 0 : 7 + (i - 1) * 6), 0, 1, 0, 1],
      ).flat(),
    ],
    /too many pointers/,
  ],
  ["6.5#3 pointer forward", [...header(1), 0xc0, 20, 0, 1, 0, 1, 1, 0x61, 0], /backwards/],
  ["6.5#3 pointer past the end", [...header(1), 0xc0, 200, 0, 1, 0, 1], /backwards/],
  ["6.5#3 pointer into the header", [...header(1), 0xc0, 2, 0, 1, 0, 1], /into the header/],
  ["6.5#4 label type 0x40", [...header(1), 0x41, 0x61, 0, 0, 1, 0, 1], /reserved label type 0x40/],
  ["6.5#4 label type 0x80", [...header(1), 0x81, 0x61, 0, 0, 1, 0, 1], /reserved label type 0x80/],
  [
    "6.5#5 label of 64 bytes",
    [...header(1), ...label(64), 0, 0, 1, 0, 1],
    /reserved label type 0x40/,
  ],
  [
    "6.5#5 name over 255 bytes",
    [...header(1), ...label(63), ...label(63), ...label(63), ...label(63), 0, 0, 1, 0, 1],
    /longer than 255/,
  ],
  [
    "6.5#5 name over 255 bytes once expanded",
    [
      ...header(2),
      ...label(63),
      ...label(63),
      ...label(63),
      0,
      0,
      1,
      0,
      1,
      ...label(63),
      0xc0,
      12,
      0,
      1,
      0,
      1,
    ],
    /longer than 255/,
  ],
  ["6.5#5 a label holding '.'", [...header(1), 3, 0x61, 0x2e, 0x62, 0, 0, 1, 0, 1], /'\.' or NUL/],
  ["6.5#5 a label holding NUL", [...header(1), 3, 0x61, 0, 0x62, 0, 0, 1, 0, 1], /'\.' or NUL/],
  [
    "6.5#6 name without its terminator",
    [...header(1), 3, 0x61, 0x61, 0x61, 2, 0x62, 0x62],
    /past the end/,
  ],
  ["6.5#7 QDCOUNT 65535 in a 19-byte message", [
    0,
    1,
    1,
    0,
    0xff,
    0xff,
    0,
    0,
    0,
    0,
    0,
    0,
    ...question,
  ], /do not fit/],
  [
    "6.5#7 ANCOUNT larger than the records",
    [...header(1, 3), ...question, ...rr(1, [1, 2, 3, 4])],
    /do not fit/,
  ],
  [
    "6.5#9 RDLENGTH past the end",
    [...header(1, 1), ...question, ...rr(1, [1, 2, 3, 4], 50)],
    /past the end/,
  ],
  [
    "6.5#9 A record of 5 bytes",
    [...header(1, 1), ...question, ...rr(1, [1, 2, 3, 4, 5])],
    /A record of 5/,
  ],
  [
    "6.5#9 AAAA record of 4 bytes",
    [...header(1, 1), ...question, ...rr(28, [1, 2, 3, 4])],
    /AAAA record of 4/,
  ],
  [
    "6.5#10 two OPT records",
    [...header(1, 0, 0, 2), ...question, ...opt([0]), ...opt([0])],
    /more than one OPT/,
  ],
  [
    "6.5#10 OPT in the answer section",
    [...header(1, 1), ...question, ...opt([0])],
    /OPT record in the answer/,
  ],
  [
    "6.5#10 OPT owned by a name",
    [...header(1, 0, 0, 1), ...question, ...opt([1, 0x61, 0])],
    /root/,
  ],
  [
    "6.5#10 OPT options overrunning",
    [...header(1, 0, 0, 1), ...question, ...opt([0], [0, 10, 0, 9, 1])],
    /overruns/,
  ],
];

for (const [name, bytes, reason] of REJECT) {
  Deno.test(`dns catalogue ${name}: rejected with the reason`, () => {
    assert.throws(() => decodeMessage(Uint8Array.from(bytes)), (e: Error) => {
      assert.ok(e instanceof RangeError, `${e}`);
      assert.match(e.message, reason);
      return true;
    });
  });
}

Deno.test("dns catalogue 6.5#2 a valid backward pointer chain still decodes", () => {
  // b.a. then c -> (pointer to b.a.)
  const msg = [...header(2), 1, 0x62, 1, 0x61, 0, 0, 1, 0, 1, 1, 0x63, 0xc0, 12, 0, 1, 0, 1];
  const m = decodeMessage(Uint8Array.from(msg));
  assert.deepEqual(m.questions.map((q: { name: string }) => q.name), ["b.a", "c.b.a"]);
});

Deno.test("dns catalogue 6.5#8 QDCOUNT 0 decodes with no question (the handler passes it on)", () => {
  const m = decodeMessage(Uint8Array.from(header(0)));
  assert.deepEqual(questionFields(m), { id: 1, name: "", class: "", type: "" });
});

Deno.test("dns catalogue 6.5#11 a truncated (TC) answer decodes and shows the tc flag", () => {
  const reply = dnsPacket.encode({
    type: "response",
    id: 9,
    flags: dnsPacket.TRUNCATED_RESPONSE,
    questions: [{ type: "A", name: "big.test" }],
  });
  assert.match(messageText(decodeMessage(new Uint8Array(reply))), /flags: qr tc/);
});

Deno.test("dns catalogue 6.5#12 a reply to another question does not match the query", () => {
  const q = (name: string) =>
    decodeMessage(new Uint8Array(dnsPacket.encode({ id: 1, questions: [{ type: "A", name }] })));
  assert.equal(sameQuestion(q("a.test"), q("A.Test")), true, "0x20 case randomisation");
  assert.equal(sameQuestion(q("a.test"), q("b.test")), false);
});

Deno.test("dns catalogue 6.5#13 2,500 answers in 64 KiB: decoded, text capped", () => {
  const answers = Array.from({ length: 2500 }, (_, i) => ({
    type: "A",
    name: "many.test",
    ttl: 1,
    data: `10.0.${i >> 8}.${i & 0xff}`,
  }));
  const bytes = new Uint8Array(
    dnsPacket.encode({
      type: "response",
      id: 2,
      questions: [{ type: "A", name: "many.test" }],
      answers,
    }),
  );
  assert.ok(bytes.length <= 65535);
  const m = decodeMessage(bytes);
  assert.equal(m.answers.length, 2500);
  const text = messageText(m);
  assert.equal(text.split("\n").filter((l) => l.startsWith("many.test.")).length, MAX_LISTED);
  assert.match(text, /;; \.\.\. 1500 more/);
});

Deno.test("dns catalogue 6.5#14 names inside RDATA of an unknown type are opaque", () => {
  // TYPE65280 whose rdata looks like a pointer loop: not followed, kept as bytes.
  const bytes = Uint8Array.from([
    ...header(1, 1),
    ...question,
    0xc0,
    12,
    0xff,
    0x00,
    0,
    1,
    0,
    0,
    0,
    60,
    0,
    2,
    0xc0,
    0x22,
  ]);
  const m = decodeMessage(bytes);
  assert.equal(m.answers.length, 1);
  assert.match(messageText(m), /\\# 2 c022/);
});

Deno.test("dns catalogue: a compressed name in an answer is still read (pointer backwards)", () => {
  const bytes = Uint8Array.from([...header(1, 1), ...question, ...rr(1, [127, 0, 0, 1])]);
  assert.match(messageText(decodeMessage(bytes)), /a\.\t60\tIN\tA\t127\.0\.0\.1/);
});
