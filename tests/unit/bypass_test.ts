import assert from "node:assert/strict";
import { Bypass } from "../../src/bypass/bypass.ts";
import { compileMatcher } from "../../src/bypass/matcher.ts";

const where = { source: "test", path: "bypasses[0]" };
const bypass = (matchers: string[], whitelist = false) =>
  Bypass.fromConfig({ name: "b", whitelist, matchers, where });

Deno.test("bypass matrix: hosts, domains, wildcards, IPs, ranges, CIDRs, ports", () => {
  const cases: [pattern: string, addr: string, matches: boolean][] = [
    ["example.com", "example.com:443", true],
    ["example.com", "EXAMPLE.com", true],
    ["example.com", "www.example.com:443", false],
    [".example.com", "example.com:80", true],
    [".example.com", "a.b.example.com:80", true],
    [".example.com", "badexample.com:80", false],
    ["*.example.com", "example.com:80", false],
    ["*.example.com", "a.b.example.com:80", true],
    ["api?.example.com", "api1.example.com", true],
    ["api?.example.com", "api12.example.com", false],
    ["example.com:443", "example.com:443", true],
    ["example.com:443", "example.com:80", false],
    [".example.com:80-90", "x.example.com:85", true],
    [".example.com:80-90", "x.example.com:91", false],
    ["*.example.com:443", "a.example.com:443", true],
    ["*.example.com:443", "a.example.com:8443", false],
    ["192.168.1.2", "192.168.1.2:22", true],
    ["192.168.1.2", "192.168.1.3:22", false],
    ["10.0.0.1-10.0.0.9", "10.0.0.5:1", true],
    ["10.0.0.1-10.0.0.9", "10.0.0.10:1", false],
    ["10.0.0.0/8", "10.200.3.4:443", true],
    ["10.0.0.0/8", "11.0.0.1:443", false],
    ["10.0.0.0/8", "example.com:443", false],
    ["2001:db8::/32", "[2001:db8::1]:443", true],
    ["2001:db8::/32", "[2001:db9::1]:443", false],
    ["::1", "[::1]:8080", true],
    ["fe80::1-fe80::ff", "[fe80::10]:1", true],
  ];
  for (const [pattern, addr, expected] of cases) {
    assert.equal(bypass([pattern]).contains(addr), expected, `${pattern} vs ${addr}`);
  }
});

Deno.test("bypass whitelist inverts, and an empty list bypasses nothing", () => {
  const white = bypass([".example.com"], true);
  assert.equal(white.contains("www.example.com:443"), false);
  assert.equal(white.contains("other.org:443"), true);
  assert.equal(bypass([], true).contains("anything:1"), false);
  assert.equal(bypass([]).contains("anything:1"), false);
});

Deno.test("bypass rejects patterns that cannot mean anything", () => {
  assert.throws(() => compileMatcher("10.0.0.0/99"), /invalid CIDR/);
  assert.throws(() => compileMatcher("10.0.0.9-10.0.0.1"), /backwards/);
  assert.throws(() => bypass(["  "]), /bypasses\[0\]\.matchers\[0\]/);
});

Deno.test("bypass IP and CIDR patterns match every spelling of the address", () => {
  const spellings = [
    "127.1:80",
    "2130706433:80",
    "0x7f000001:80",
    "0177.0.0.1:80",
    "[::ffff:127.0.0.1]:80",
    "[::ffff:7f00:1]:80",
  ];
  for (const pattern of ["127.0.0.0/8", "127.0.0.1", "127.0.0.0-127.0.0.9"]) {
    const b = bypass([pattern]);
    for (const addr of spellings) assert.equal(b.contains(addr), true, `${pattern} ${addr}`);
  }
  assert.equal(bypass(["127.0.0.0/8"]).contains("128.1:80"), false);
  assert.equal(bypass(["::1"]).contains("[0:0::1]:443"), true);
});
