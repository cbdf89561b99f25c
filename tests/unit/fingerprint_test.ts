import assert from "node:assert/strict";
import { fingerprint, fingerprintHex } from "../../src/protocol/tls/fingerprint.ts";
import {
  alpnData,
  clientHelloRecords,
  sniData,
  versionsData,
} from "../helpers/tls_hello_builder.ts";
import { greasy, u16s } from "../helpers/greasy_hello.ts";

Deno.test("fingerprint: JA3 and JA4 of a GREASEd hello, derived by hand", () => {
  const f = fingerprint(greasy);
  assert.equal(f.ja3String, "771,4865-4866-49199,0-16-10-11-13-43,29-23,0");
  assert.equal(f.ja3, "fcaf317ddda4509bd8e93a555b21e11a");
  assert.equal(f.ja4Raw, "t13d0306h2_1301,1302,c02f_000a,000b,000d,002b_0403,0804");
  assert.equal(f.ja4, "t13d0306h2_40b44b994229_fb71836bce29");
});

Deno.test("fingerprint: the same hello split over many TLS records", () => {
  const split = clientHelloRecords({
    suites: [0x0a0a, 0x1301, 0x1302, 0xc02f],
    fragment: 7,
    extensions: [
      [0x1a1a, new Uint8Array(0)],
      [0, sniData("example.com")],
      [16, alpnData("h2", "http/1.1")],
      [10, u16s(0x2a2a, 0x001d, 0x0017)],
      [11, Uint8Array.from([1, 0])],
      [13, u16s(0x0403, 0x0804)],
      [43, versionsData(0x3a3a, 0x0304, 0x0303)],
    ],
  });
  assert.deepEqual(fingerprint(split), fingerprint(greasy));
});

Deno.test("fingerprint: JA4 edge cases of the spec", () => {
  // No SNI, no ALPN, no signature algorithms, TLS 1.2 from legacy_version.
  const bare = fingerprint(clientHelloRecords({
    suites: [0xc02f],
    extensions: [[23, new Uint8Array(0)]],
  }));
  // c without sig algs ends without "_": sha256("0017").
  assert.equal(bare.ja4Raw, "t12i010100_c02f_0017");
  assert.equal(bare.ja4.slice(0, 10), "t12i010100");
  // No extensions block at all: JA4 c is twelve zeros; JA3's lists are empty.
  const old = fingerprint(clientHelloRecords({ legacyVersion: 0x0301, extensions: null }));
  assert.match(old.ja4, /^t10i030000_[0-9a-f]{12}_000000000000$/);
  assert.equal(old.ja3String, "769,4865-4866-49199,,,");
  // ALPN ends that are not letters or digits: the hex digits (spec: 0x30 0xAB → "3b").
  const odd = fingerprint(clientHelloRecords({
    extensions: [[16, alpnData([0x30, 0xab])]],
  }));
  assert.equal(odd.ja4.slice(8, 10), "3b");
  // A single-character ALPN is both first and last.
  const one = fingerprint(clientHelloRecords({ extensions: [[16, alpnData("x")]] }));
  assert.equal(one.ja4.slice(8, 10), "xx");
  // SSL 3.0 in supported_versions' place.
  const s3 = fingerprint(clientHelloRecords({ legacyVersion: 0x0300, extensions: null }));
  assert.equal(s3.ja4.slice(0, 3), "ts3");
});

Deno.test("fingerprint: FoxIO's published JA4 and Wireshark's JA3 for real browser hellos", () => {
  const fixture = JSON.parse(Deno.readTextFileSync("tests/fixtures/ja4_foxio_hellos.json")) as {
    hellos: { clientHello: string; ja3: string; ja3String: string; ja4: string; ja4Raw: string }[];
  };
  assert.ok(fixture.hellos.length >= 5);
  for (const h of fixture.hellos) {
    const f = fingerprintHex(h.clientHello)!;
    assert.ok(f, "a fingerprint");
    assert.equal(f.ja4, h.ja4);
    assert.equal(f.ja4Raw, h.ja4Raw);
    assert.equal(f.ja3, h.ja3);
    assert.equal(f.ja3String, h.ja3String);
  }
});

Deno.test("fingerprintHex refuses what is not a hello", () => {
  assert.equal(fingerprintHex(""), null);
  assert.equal(fingerprintHex(42), null);
  assert.equal(fingerprintHex("zz".repeat(20)), null);
  assert.equal(fingerprintHex("17030300050102030405"), null); // application data
  assert.equal(fingerprintHex("16030100050100000100"), null); // a hello cut short
  assert.equal(fingerprintHex("ab".repeat(70_000)), null); // past the hello cap
});
