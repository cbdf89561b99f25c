/**
 * Run by tests/e2e/record_strings_test.ts as
 * `deno run -A --v8-flags=--allow-natives-syntax whole_strings_probe.ts`: snoop in-process,
 * real requests through it with curl and dig, and every record `JSON.stringify` is given checked for
 * strings that would send it down its slow path (cons and sliced strings, see
 * `wholeString`). Prints one JSON line: the records checked and the strings that were not
 * whole, with their paths.
 */
import { startDnsServer } from "../../scripts/lib/dns_server.ts";
import { curl, run, startOrigin, startSnoop, testCert } from "./harness.ts";

// V8's own view of a string (only with --allow-natives-syntax, hence Function). A string is
// whole when its characters lie in one piece: sequential (in-place internalizable),
// internalized, or a thin string (a forward to an internalized one, as a string used as a
// property key becomes), which `JSON.stringify`'s fast path follows.
const isSequential = new Function("s", "return %IsInPlaceInternalizableString(s)");
const isInternalized = new Function("s", "return %IsInternalizedString(s)");
const haveSameMap = new Function("a", "b", "return %HaveSameMap(a, b)");
const keyed: Record<string, number> = {};

/**
 * A thin string to compare maps with, made at the time of the comparison (a collection
 * replaces thin strings by what they forward to): a copy of an internalized string (the
 * literal) made a property key becomes a forward to it.
 */
function thinReference(): string {
  const copy = ["a-thin-string", "-reference"].join("");
  keyed[copy] = "a-thin-string-reference".length;
  return copy;
}

function isWhole(s: string): boolean {
  return s.length < 13 || isSequential(s) || isInternalized(s) || haveSameMap(s, thinReference());
}

interface Finding {
  path: string;
  value: string;
}

function notWhole(value: unknown, path: string, out: Finding[]): Finding[] {
  if (typeof value === "string") {
    if (!isWhole(value)) out.push({ path, value });
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) notWhole(v, `${path}.${k}`, out);
  }
  return out;
}

const checked: string[] = [];
const findings: Finding[] = [];
const stringify = JSON.stringify;
JSON.stringify = function (value: unknown, ...rest: unknown[]) {
  if (value && typeof value === "object" && "sid" in value && "service" in value) {
    const { service, proto } = value as { service: string; proto?: string };
    checked.push(`${service} ${proto ?? ""}`);
    notWhole(value, "", findings);
  }
  // deno-lint-ignore no-explicit-any
  return (stringify as any).call(JSON, value, ...rest);
} as typeof JSON.stringify;

// The check must be able to fail: a record with a concatenated and a sliced string (and the
// reference must be a thin string, neither sequential nor internalized).
const reference = thinReference();
const control = isSequential(reference) || isInternalized(reference) ? ["reference"] : [];
control.push(
  ...notWhole(
    {
      service: "probe-" + String(Math.random()),
      uri: ("GET /a-path-long-enough HTTP/1.1" + String(Math.random())).slice(4, 22),
    },
    "",
    [],
  ).map((f) => f.path),
);

const dir = await Deno.makeTempDir({ prefix: "snoop-whole-strings-" });
const headers = {
  "ETag": '"a-long-entity-tag-value"',
  "Last-Modified": "Fri, 27 Nov 2026 21:13:23 GMT",
};
const origin = await startOrigin(() => new Response("hello", { headers }));
const tlsOrigin = await startOrigin(() => new Response("hello", { headers }), await testCert());
const dns = await startDnsServer({ "a-name-long-enough.test": "127.0.0.42" });
const snoop = await startSnoop(`
services:
  - name: a-proxy-named-at-length
    addr: 127.0.0.1:0
    recorders: [{ name: file }]
    handler: { type: http, metadata: { sniffing: true } }
  - name: a-forwarder-named-at-length
    addr: 127.0.0.1:0
    recorders: [{ name: file }]
    handler: { type: tcp, metadata: { sniffing: true } }
    forwarder: { nodes: [{ name: o, addr: "127.0.0.1:${origin.port}" }] }
  - name: a-resolver-named-at-length
    addr: 127.0.0.1:0
    recorders: [{ name: file }]
    handler: { type: dns, metadata: { dns: ["udp://127.0.0.1:${dns.port}"] } }
    listener: { type: udp }
recorders: [{ name: file, file: { path: "${dir}/records.jsonl" } }]
`);
try {
  const proxyUrl = `127.0.0.1:${snoop.port("a-proxy-named-at-length")}`;
  const longQuery = "?token=a-secret-to-redact&page=a-long-enough-parameter";
  // The forward path, with a long header value, a redacted query and a forwarded client IP.
  await curl(
    "-x",
    proxyUrl,
    "-H",
    "X-Request-Note: a header value long enough",
    "-H",
    "X-Forwarded-For: 2001:db8:0:0:0:0:0:1234",
    `${origin.url}/a/long/enough/path${longQuery}`,
  );
  // A CONNECT tunnel, sniffed (HTTP inside), and one with TLS inside.
  await curl("-p", "-x", proxyUrl, `${origin.url}/through/the/tunnel${longQuery}`);
  await curl("-k", "-x", proxyUrl, `https://localhost:${tlsOrigin.port}/a/tls/tunnel`);
  // A tcp forwarder's sniffed exchange (the exchange record builder).
  await curl(
    "-H",
    "X-Request-Note: a header value long enough",
    `http://127.0.0.1:${snoop.port("a-forwarder-named-at-length")}/sniffed${longQuery}`,
  );
  // A DNS query.
  await run("dig", [
    "@127.0.0.1",
    "-p",
    String(snoop.port("a-resolver-named-at-length")),
    "a-name-long-enough.test",
    "A",
    "+tries=1",
    "+time=3",
  ]);
} finally {
  await snoop.stop();
  await dns.close();
  await tlsOrigin.close();
  await origin.close();
  await Deno.remove(dir, { recursive: true });
}
console.log(stringify({ checked, findings, control }));
