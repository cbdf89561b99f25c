import assert from "node:assert/strict";
import dnsPacket from "dns-packet";
import { detectProtocol, H2_PREFACE } from "../../src/protocol/detect.ts";
import { decodeMessage, messageText, questionFields } from "../../src/protocol/dns/message.ts";
import { ascii } from "../helpers/chunks.ts";

Deno.test("detect: TLS, HTTP/1 methods, the HTTP/2 preface, unknown, and need-more", () => {
  assert.equal(detectProtocol(Uint8Array.of(0x16, 3, 1, 2, 0)), "tls");
  assert.equal(detectProtocol(Uint8Array.of(0x16, 3)), null);
  assert.equal(detectProtocol(Uint8Array.of(0x16, 9, 9)), "unknown");
  assert.equal(detectProtocol(ascii("GET / HTTP/1.1")), "http");
  assert.equal(detectProtocol(ascii("OPTIONS * HTTP/1.1")), "http");
  assert.equal(detectProtocol(ascii("GE")), null);
  assert.equal(detectProtocol(ascii("PRI * HTTP/2.0\r\n")), null);
  assert.equal(detectProtocol(ascii(H2_PREFACE)), "h2");
  assert.equal(detectProtocol(ascii("SSH-2.0-OpenSSH")), "unknown");
  assert.equal(detectProtocol(ascii("EHLO x")), "unknown");
  assert.equal(detectProtocol(ascii("FOO / HTTP/1.1")), "unknown");
  assert.equal(detectProtocol(Uint8Array.of(0, 1, 2)), "unknown");
});

Deno.test("dns message: question fields and dig-style text", () => {
  const query = new Uint8Array(
    dnsPacket.encode({
      type: "query",
      id: 4242,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: "AAAA", name: "example.com" }],
    }),
  );
  const q = decodeMessage(query);
  assert.deepEqual(questionFields(q), {
    id: 4242,
    name: "example.com.",
    class: "IN",
    type: "AAAA",
  });
  assert.equal(
    messageText(q),
    ";; opcode: QUERY, status: NOERROR, id: 4242\n;; flags: rd; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0\n\n;; QUESTION SECTION:\n;example.com.\tIN\t AAAA\n",
  );
  const reply = decodeMessage(
    new Uint8Array(dnsPacket.encode({
      type: "response",
      id: 1,
      flags: 0x8180,
      questions: [{ type: "MX", name: "m.test" }],
      answers: [{
        type: "MX",
        name: "m.test",
        ttl: 30,
        data: { preference: 10, exchange: "mx.m.test" },
      }],
    })),
  );
  assert.match(messageText(reply), /;; ANSWER SECTION:\nm\.test\.\t30\tIN\tMX\t10 mx\.m\.test\.\n/);
});

Deno.test("dns message: malformed input is a RangeError with the reason", () => {
  assert.throws(() => decodeMessage(Uint8Array.of(1, 2, 3)), /shorter than its 12-byte header/);
  // A header that promises a question that is not there.
  assert.throws(() => decodeMessage(Uint8Array.of(0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)), RangeError);
  // A compression pointer that points at itself must not loop.
  const loop = Uint8Array.of(0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1);
  assert.throws(() => decodeMessage(loop), RangeError);
});
