import assert from "node:assert/strict";
import { newClientHelloReader, newServerHelloReader } from "../../src/protocol/tls/hello.ts";
import { cipherSuiteName, tlsVersionName } from "../../src/protocol/tls/names.ts";
import { everySplit } from "../helpers/chunks.ts";

const hex = (h: string) => Uint8Array.from(h.trim().match(/../g)!.map((b) => parseInt(b, 16)));
// The seed page's own records: a curl ClientHello for www.example.com and its ServerHello.
const clientHello = hex(Deno.readTextFileSync("tests/fixtures/seed_client_hello.hex"));
const serverHello = hex(Deno.readTextFileSync("tests/fixtures/seed_server_hello.hex"));

Deno.test("tls ClientHello from the seed parses on every split", () => {
  for (const chunks of everySplit(clientHello)) {
    const reader = newClientHelloReader();
    let r = reader.result;
    for (const c of chunks) r = reader.push(c);
    assert.equal(r.status, "done");
    if (r.status !== "done") return;
    assert.equal(r.hello.serverName, "www.example.com");
    assert.deepEqual(r.hello.alpn, ["h2", "http/1.1"]);
    assert.deepEqual(r.hello.supportedVersions, [0x0304, 0x0303]);
    assert.ok(r.hello.cipherSuites.includes(0x1302));
    assert.deepEqual(r.raw, clientHello);
  }
});

Deno.test("tls ServerHello from the seed gives the seed record's version and cipher suite", () => {
  for (const chunks of everySplit(serverHello)) {
    const reader = newServerHelloReader();
    let r = reader.result;
    for (const c of chunks) r = reader.push(c);
    assert.equal(r.status, "done");
    if (r.status !== "done") return;
    assert.equal(tlsVersionName(r.hello.version), "tls1.3");
    assert.equal(cipherSuiteName(r.hello.cipherSuite), "TLS_CHACHA20_POLY1305_SHA256");
    assert.equal(r.hello.compressionMethod, 0);
  }
});

/** Re-frames a single-record hello as several records of `size` fragment bytes each. */
function splitIntoRecords(record: Uint8Array, size: number): Uint8Array {
  const body = record.subarray(5);
  const out: number[] = [];
  for (let i = 0; i < body.length; i += size) {
    const frag = body.subarray(i, i + size);
    out.push(0x16, record[1], record[2], frag.length >> 8, frag.length & 0xff, ...frag);
  }
  return Uint8Array.from(out);
}

Deno.test("tls ClientHello spanning several TLS records is reassembled (any split)", () => {
  for (const size of [1, 7, 100, 300]) {
    const multi = splitIntoRecords(clientHello, size);
    const reader = newClientHelloReader();
    let r = reader.result;
    for (let i = 0; i < multi.length; i += 13) r = reader.push(multi.subarray(i, i + 13));
    assert.equal(r.status, "done", `fragment size ${size}`);
    if (r.status === "done") assert.equal(r.hello.serverName, "www.example.com");
  }
});

Deno.test("tls ClientHello without SNI (an IP target) parses with an empty name", () => {
  // Remove the server_name extension (type 0) from the seed's hello and fix the lengths.
  const b = Array.from(clientHello);
  const extStart = 5 + 4 + 2 + 32 + 1 + b[5 + 4 + 2 + 32];
  const csLen = (b[extStart] << 8) | b[extStart + 1];
  const compAt = extStart + 2 + csLen;
  const extLenAt = compAt + 1 + b[compAt];
  let p = extLenAt + 2;
  const end = p + ((b[extLenAt] << 8) | b[extLenAt + 1]);
  while (p < end) {
    const type = (b[p] << 8) | b[p + 1];
    const len = (b[p + 2] << 8) | b[p + 3];
    if (type === 0) {
      b.splice(p, 4 + len);
      const fix = (at: number, delta: number, bytes: number) => {
        let v = 0;
        for (let i = 0; i < bytes; i++) v = (v << 8) | b[at + i];
        v -= delta;
        for (let i = bytes - 1; i >= 0; i--) {
          b[at + i] = v & 0xff;
          v >>= 8;
        }
      };
      fix(extLenAt, 4 + len, 2);
      fix(6, 4 + len, 3);
      fix(3, 4 + len, 2);
      break;
    }
    p += 4 + len;
  }
  const r = newClientHelloReader().push(Uint8Array.from(b));
  assert.equal(r.status, "done");
  if (r.status === "done") assert.equal(r.hello.serverName, "");
});

Deno.test("tls reader says invalid for non-handshake, wrong message and oversized input", () => {
  assert.equal(newClientHelloReader().push(Uint8Array.of(0x17, 3, 3, 0, 1, 0)).status, "invalid");
  assert.equal(newClientHelloReader().push(serverHello).status, "invalid");
  assert.equal(
    newClientHelloReader().push(Uint8Array.of(0x16, 3, 1, 0xff, 0xff)).status,
    "invalid",
  );
  // A header promising a 16 MB handshake message.
  assert.equal(
    newClientHelloReader().push(Uint8Array.of(0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff)).status,
    "invalid",
  );
  // Truncated: needs more.
  assert.equal(newClientHelloReader().push(clientHello.subarray(0, 100)).status, "more");
});
