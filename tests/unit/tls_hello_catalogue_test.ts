import assert from "node:assert/strict";
import { detectProtocol } from "../../src/protocol/detect.ts";
import {
  type ClientHello,
  type HelloResult,
  MAX_HELLO_BYTES,
  newClientHelloReader,
} from "../../src/protocol/tls/hello.ts";
import {
  alpnData,
  clientHelloRecords,
  defaultExtensions,
  records,
  sniData,
  versionsData,
} from "../helpers/tls_hello_builder.ts";

/**
 * reliability-limits §6.4 (the TLS ClientHello sniffer) as a table: every row is read whole
 * and one byte per read, and must give the same answer both ways. The deadline half of #6
 * is the e2e test "sniffing: a server-speaks-first protocol passes untouched after the sniff
 * timeout"; the "keep relaying" half of the reject rows is the relay's (it never depends on
 * the sniffer's verdict).
 */

type Expect =
  | { valid: (h: ClientHello) => void }
  | { invalid: RegExp };

const ext = (replace: [number, Uint8Array][]) => {
  const types = new Set(replace.map(([t]) => t));
  return [...defaultExtensions().filter(([t]) => !types.has(t)), ...replace];
};
const bytes = (n: number, fill = 0) => new Uint8Array(n).fill(fill);

const ROWS: [string, Uint8Array, Expect][] = [
  ["6.4#2 record version 0x0300", clientHelloRecords({ recordVersion: 0x0300 }), {
    invalid: /record version/,
  }],
  ["6.4#2 record version 0x0304", clientHelloRecords({ recordVersion: 0x0304 }), {
    invalid: /record version/,
  }],
  ["6.4#2 record version 0xffff", clientHelloRecords({ recordVersion: 0xffff }), {
    invalid: /record version/,
  }],
  ["6.4#2 handshake type 2 (a ServerHello from the client)", records([2, 0, 0, 4, 3, 3, 0, 0]), {
    invalid: /unexpected handshake message 2/,
  }],
  ["6.4#3 record length 0", Uint8Array.of(22, 3, 1, 0, 0), { invalid: /record length 0/ }],
  ["6.4#3 record length 2^14 + 257", Uint8Array.of(22, 3, 1, 0x41, 0x01), {
    invalid: /record length/,
  }],
  ["6.4#4 split into 1-byte records", clientHelloRecords({ fragment: 1 }), {
    valid: (h) => assert.equal(h.serverName, "example.com"),
  }],
  ["6.4#4 split into 100-byte records", clientHelloRecords({ fragment: 100 }), {
    valid: (h) => assert.equal(h.serverName, "example.com"),
  }],
  [
    "6.4#5 handshake length < the fields (trailing bytes)",
    clientHelloRecords({
      trailing: Uint8Array.of(1, 2, 3),
    }),
    { invalid: /after the extensions/ },
  ],
  [
    "6.4#5 extensions cut short by the handshake length",
    truncateHandshake(clientHelloRecords(), 3),
    {
      invalid: /truncated/,
    },
  ],
  ["6.4#7 session_id of 33 bytes", clientHelloRecords({ sessionId: bytes(33) }), {
    invalid: /session_id/,
  }],
  [
    "6.4#7 odd cipher_suites length",
    clientHelloRecords({ suites: [0x1301, 0x1302], suitesLength: 3 }),
    {
      invalid: /cipher_suites|truncated|after the extensions|compression/,
    },
  ],
  ["6.4#7 empty cipher_suites", clientHelloRecords({ suites: [] }), { invalid: /cipher_suites/ }],
  ["6.4#7 no compression methods", clientHelloRecords({ compression: [] }), {
    invalid: /compression/,
  }],
  [
    "6.4#8 one extension's length overruns the block",
    clientHelloRecords({
      extensions: [[0, Uint8Array.of(0, 200, 0)]],
    }),
    { invalid: /truncated/ },
  ],
  [
    "6.4#8 duplicate extension type",
    clientHelloRecords({
      extensions: [[0, sniData("a.example")], [0, sniData("b.example")]],
    }),
    { invalid: /duplicate extension 0/ },
  ],
  [
    "6.4#8 pre_shared_key not last",
    clientHelloRecords({
      extensions: [[41, bytes(8)], [0, sniData("example.com")]],
    }),
    { invalid: /pre_shared_key/ },
  ],
  [
    "6.4#8 pre_shared_key last is fine",
    clientHelloRecords({
      extensions: [...defaultExtensions(), [41, bytes(8)]],
    }),
    { valid: (h) => assert.equal(h.serverName, "example.com") },
  ],
  ["6.4#9 no extensions at all", clientHelloRecords({ extensions: null }), {
    valid: (h) => {
      assert.equal(h.serverName, "");
      assert.deepEqual(h.alpn, []);
    },
  }],
  [
    "6.4#10 SNI list length mismatch",
    clientHelloRecords({
      extensions: ext([[0, Uint8Array.of(0, 3, 0, 0, 1, 0x61, 0x62)]]),
    }),
    { invalid: /server_name list length/ },
  ],
  [
    "6.4#10 SNI name_type 1",
    clientHelloRecords({
      extensions: ext([[0, Uint8Array.of(0, 4, 1, 0, 1, 0x61)]]),
    }),
    { invalid: /server_name type 1/ },
  ],
  [
    "6.4#10 two host_name entries",
    clientHelloRecords({
      extensions: ext([[0, sniData("a.example", "b.example")]]),
    }),
    { invalid: /two host_name/ },
  ],
  ["6.4#10 empty host_name", clientHelloRecords({ extensions: ext([[0, sniData("")]]) }), {
    invalid: /host_name length/,
  }],
  [
    "6.4#10 host_name of 256 bytes",
    clientHelloRecords({
      extensions: ext([[0, sniData("a".repeat(256))]]),
    }),
    { invalid: /host_name length/ },
  ],
  [
    "6.4#10 NUL in host_name",
    clientHelloRecords({
      extensions: ext([[0, sniData([0x61, 0, 0x62])]]),
    }),
    { invalid: /outside/ },
  ],
  [
    "6.4#10 non-ASCII host_name",
    clientHelloRecords({
      extensions: ext([[0, sniData([0x61, 0xc3, 0xa9])]]),
    }),
    { invalid: /outside/ },
  ],
  [
    "6.4#10 path characters in host_name",
    clientHelloRecords({
      extensions: ext([[0, sniData("../etc/passwd")]]),
    }),
    { invalid: /outside/ },
  ],
  [
    "6.4#10 IPv4 literal as host_name",
    clientHelloRecords({
      extensions: ext([[0, sniData("127.0.0.1")]]),
    }),
    { invalid: /IP address/ },
  ],
  [
    "6.4#10 IPv6 literal as host_name",
    clientHelloRecords({
      extensions: ext([[0, sniData("::1")]]),
    }),
    { invalid: /outside/ },
  ],
  [
    "6.4#10 uppercase and a trailing dot are normalised",
    clientHelloRecords({
      extensions: ext([[0, sniData("WWW.Example.COM.")]]),
    }),
    { valid: (h) => assert.equal(h.serverName, "www.example.com") },
  ],
  ["6.4#11 empty ALPN list", clientHelloRecords({ extensions: ext([[16, Uint8Array.of(0, 0)]]) }), {
    invalid: /empty ALPN list/,
  }],
  [
    "6.4#11 zero-length ALPN protocol",
    clientHelloRecords({
      extensions: ext([[16, alpnData("h2", "")]]),
    }),
    { invalid: /empty ALPN protocol/ },
  ],
  [
    "6.4#11 ALPN list overruns",
    clientHelloRecords({
      extensions: ext([[16, Uint8Array.of(0, 9, 2, 0x68, 0x32)]]),
    }),
    { invalid: /truncated/ },
  ],
  [
    "6.4#12 GREASE in suites, extensions, versions and ALPN",
    clientHelloRecords({
      suites: [0x0a0a, 0x1301],
      extensions: [
        [0x1a1a, new Uint8Array(0)],
        [0, sniData("example.com")],
        [16, alpnData([0x2a, 0x2a], "h2")],
        [43, versionsData(0x3a3a, 0x0304)],
        [0x4a4a, Uint8Array.of(0)],
      ],
    }),
    {
      valid: (h) => {
        assert.equal(h.serverName, "example.com");
        assert.deepEqual(h.alpn, ["h2"]);
        assert.deepEqual(h.supportedVersions, [0x0304]);
      },
    },
  ],
  [
    "6.4#13 ECH offered: the outer SNI, ech set",
    clientHelloRecords({
      extensions: ext([[0, sniData("public.example")], [0xfe0d, bytes(40, 9)]]),
    }),
    {
      valid: (h) => {
        assert.equal(h.serverName, "public.example");
        assert.equal(h.ech, true);
      },
    },
  ],
  [
    "6.4#14 only TLS 1.3 offered, legacy_version 0x0301",
    clientHelloRecords({
      legacyVersion: 0x0301,
      extensions: ext([[43, versionsData(0x0304)]]),
    }),
    {
      valid: (h) => {
        assert.equal(h.legacyVersion, 0x0301);
        assert.deepEqual(h.supportedVersions, [0x0304]);
        assert.equal(h.ech, false);
      },
    },
  ],
  [
    "6.4#16 ML-KEM-sized key_share padded to 4 KiB, across records",
    clientHelloRecords({
      extensions: ext([[51, bytes(1216 + 32 + 10, 5)], [21, bytes(2600)]]),
      fragment: 1400,
    }),
    { valid: (h) => assert.equal(h.serverName, "example.com") },
  ],
  ["6.4#17 alert before the ClientHello", Uint8Array.of(21, 3, 1, 0, 2, 2, 40), {
    invalid: /alert/,
  }],
  ["6.4#17 ChangeCipherSpec before the ClientHello", Uint8Array.of(20, 3, 1, 0, 1, 1), {
    invalid: /not a handshake record/,
  }],
];

/** Shrinks the handshake length field by `n` bytes (the record still carries them). */
function truncateHandshake(recs: Uint8Array, n: number): Uint8Array {
  const out = recs.slice();
  const len = (out[6] << 16 | out[7] << 8 | out[8]) - n;
  out.set([len >> 16 & 0xff, len >> 8 & 0xff, len & 0xff], 6);
  return out;
}

function readWhole(b: Uint8Array): HelloResult<ClientHello> {
  return newClientHelloReader().push(b);
}

function readByteByByte(b: Uint8Array): HelloResult<ClientHello> {
  const reader = newClientHelloReader();
  let r = reader.result;
  for (let i = 0; i < b.length && r.status === "more"; i++) r = reader.push(b.subarray(i, i + 1));
  return r;
}

for (const [name, input, expected] of ROWS) {
  Deno.test(`tls catalogue ${name}`, () => {
    const answers: [string, HelloResult<ClientHello>][] = [
      ["whole", readWhole(input)],
      ["1 byte/read", readByteByByte(input)],
    ];
    for (const [how, r] of answers) {
      if ("valid" in expected) {
        assert.equal(r.status, "done", `${how}: ${JSON.stringify(r)}`);
        if (r.status === "done") expected.valid(r.hello);
      } else {
        assert.equal(r.status, "invalid", `${how}: ${r.status}`);
        if (r.status === "invalid") assert.match(r.reason, expected.invalid, how);
      }
    }
  });
}

Deno.test("tls catalogue 6.4#1 first byte not 0x16: HTTP, an SSH banner, random bytes are not TLS", () => {
  assert.equal(detectProtocol(new TextEncoder().encode("GET / HTTP/1.1\r\n")), "http");
  assert.equal(detectProtocol(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2\r\n")), "unknown");
  assert.equal(detectProtocol(Uint8Array.of(0x17, 3, 3, 0, 5)), "unknown");
});

Deno.test("tls catalogue 6.4#15 an SSLv2-compatible hello (0x80) is not taken for a TLS record", () => {
  // SSLv2 CLIENT-HELLO: 2-byte header with the high bit set, msg type 1, version 3.1.
  const sslv2 = Uint8Array.of(0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10);
  assert.equal(detectProtocol(sslv2), "unknown");
  const r = readWhole(sslv2);
  assert.equal(r.status, "invalid");
});

Deno.test("tls catalogue 6.4#6 a handshake longer than 64 KiB is rejected before it is buffered", () => {
  const header = Uint8Array.of(22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x01); // msg length 65537
  const reader = newClientHelloReader();
  let r = reader.push(header);
  assert.equal(r.status, "invalid");
  if (r.status === "invalid") assert.match(r.reason, /too large/);
  // And a stream of valid-looking records never grows the reader past its cap.
  const chunk = records([...new Uint8Array(16000).fill(0)]);
  const flood = newClientHelloReader();
  r = flood.push(Uint8Array.of(22, 3, 1, 0, 4, 1, 0x00, 0xff, 0xff)); // length 65535
  for (let i = 0; i < 10 && r.status === "more"; i++) r = flood.push(chunk);
  assert.equal(r.status, "invalid");
  assert.ok(MAX_HELLO_BYTES <= 64 * 1024);
});
