import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { formatFilter, parseFilter, regexProblem } from "../../src/store/filter_language.ts";
import { compileFilter } from "../../src/store/filter_conditions.ts";
import { recordMatcher } from "../../src/store/filter_match.ts";
import { buildWhere, filterMatcher, type RecordFilter } from "../../src/store/filter.ts";
import { RecordStore } from "../../src/store/record_store.ts";
import { clientHelloRecords } from "../helpers/tls_hello_builder.ts";
import { sampleRecord } from "../helpers/records.ts";

const errorOf = (src: string) => {
  try {
    parseFilter(src);
  } catch (e) {
    assert.ok(e instanceof RangeError);
    return (e as Error).message;
  }
  assert.fail(`"${src}" parsed`);
};

Deno.test("filter language: errors name the column they point at", () => {
  assert.equal(errorOf("~c 4xz"), "column 4: expected a status code or class");
  assert.equal(errorOf("~m GET & ~zz x"), "column 10: unknown operator ~zz");
  assert.equal(errorOf("(~h a.com"), "column 10: expected )");
  assert.equal(errorOf("~h"), "column 3: expected a host name after ~h");
  assert.equal(errorOf("a | | b"), "column 5: unexpected |");
  assert.equal(errorOf('~u "abc'), "column 4: unterminated quoted text");
  assert.equal(errorOf("~ja3 xyz"), "column 6: expected a JA3 hash (32 hex digits)");
  assert.equal(errorOf("a )"), "column 3: unexpected )");
  assert.equal(errorOf(""), "column 1: empty expression");
  assert.match(errorOf("~u '(a+)+$'"), /^column 4: nested quantifiers/);
  assert.match(errorOf("~u '(x'"), /^column 4: not a regular expression/);
  assert.match(errorOf("!".repeat(100) + "a"), /nested too deeply/);
  assert.match(errorOf("a".repeat(5000)), /longer than 4096/);
});

Deno.test("filter language: ! binds tightest, then & (or nothing), then |", () => {
  assert.equal(formatFilter(parseFilter("!a b | c")), "((!a & b) | c)");
  assert.equal(formatFilter(parseFilter("a | b & c")), "(a | (b & c))");
  assert.equal(formatFilter(parseFilter("!(a | b)&~c 5xx")), "(!(a | b) & ~c 5xx)");
  assert.equal(
    formatFilter(parseFilter(`~hq "x-id: 1" ~tls ~u '^/a(b|c)'`)),
    '((~hq "x-id: 1" & ~tls) & ~u "^/a(b|c)")',
  );
  // `!` inside a word is part of it; `&` and `|` end it.
  assert.equal(formatFilter(parseFilter("wow!&x|y")), "((wow! & x) | y)");
});

Deno.test("filter language: the regex guard refuses backtracking shapes only", () => {
  for (const bad of ["(a+)+", "(a|aa)*", "(.*a){20}", "(?=a)", "(a)\\1"]) {
    assert.ok(regexProblem(bad), bad);
  }
  for (const ok of ["^/api/v[0-9]+/", "a+b*", "(ab)+", "(a|b)c", "[(+]+", "\\(a+\\)+"]) {
    assert.equal(regexProblem(ok), null, ok);
  }
});

Deno.test("filter SQL: values are bound parameters, numbered for PostgreSQL", () => {
  const evil = "x' OR 1=1 --";
  const f: RecordFilter = { expr: `~h "${evil}" | "${evil}" | ~hq '${evil}' | ~m GET` };
  for (const dialect of ["sqlite", "postgres"] as const) {
    const { sql, params } = buildWhere(f, 9, dialect);
    assert.ok(!sql.includes("OR 1=1"), sql);
    assert.ok(params.some((p) => String(p).includes("OR 1=1")));
    if (dialect === "postgres") {
      assert.ok(!sql.includes("?"));
      assert.ok(sql.includes(`$${params.length}`));
    } else assert.equal(sql.split("?").length - 1, params.length);
  }
});

// A record set with the shapes each operator looks at, hostile ones included.
const hello = Buffer.from(clientHelloRecords()).toString("hex");
const records = [
  sampleRecord(0),
  sampleRecord(1, { http: { statusCode: 404, uri: "/api/v2/users?id=7" } }),
  sampleRecord(2, {
    host: "cdn.Other.org:443",
    http: { host: "cdn.other.org", method: "POST", statusCode: 503, uri: "/upload" },
  }),
  sampleRecord(3, {
    err: "dial tcp: refused",
    http: {
      request: {
        contentLength: 9,
        header: { "X-Trace": ["abc-123"], "Content-Type": ["text/plain"] },
        body: btoa("needle in the REQUEST"),
      },
    },
  }),
  sampleRecord(4, {
    http: {
      response: {
        contentLength: 5,
        header: { "X-Trace": ["zzz"], "Content-Type": ["text/html; charset=utf-8"] },
        body: btoa("<b>needle</b> response"),
      },
    },
  }),
  sampleRecord(5, {
    proto: "tls",
    host: "secure.example.com:443",
    http: undefined,
    tls: { serverName: "secure.example.com", clientHello: hello },
  }),
  sampleRecord(6, {
    proto: "dns",
    host: "8.8.8.8:53",
    http: undefined,
    dns: { id: 1, name: "example.com.", class: "IN", type: "A", question: "", answer: "" },
  }),
  sampleRecord(7, {
    proto: "websocket",
    websocket: { from: "server", opcode: 1, payload: btoa("needle over ws"), length: 14 },
  }),
  // Hostile: a status that is not a whole number, odd unicode, a tls section that is a string.
  sampleRecord(8, { http: { statusCode: 404.5, uri: "/ünïcode/ſ/K" }, tls: "nope" }),
  sampleRecord(9, {
    host: "sub.example.com:8443",
    http: { host: "sub.example.com", uri: "/a%_\\b", statusCode: 302 },
  }),
  sampleRecord(10, { host: "notexample.com:443", http: { uri: "/x" } }),
];

/** Expressions with the ids (record index + 1) each must select. */
const CASES: [string, number[]][] = [
  ["~m POST", [3]],
  ["~c 404", [2]],
  ["~c 4xx", [2]],
  ["~c 5xx | ~err", [3, 4]],
  ["!~c 2xx", [2, 3, 6, 7, 9, 10]],
  ["~h api.example.com", [1, 2, 4, 5, 8, 9]],
  ["~h *.example.com", [1, 2, 4, 5, 6, 8, 9, 10]],
  ["~d example.com", [1, 2, 4, 5, 6, 8, 9, 10]],
  ["~d other.org", [3]],
  ["~u ^/api/v[0-9]+/", [2]],
  ["~u users", [2]],
  ["~u item.3$", [4]],
  ["~u ^/ITEM", [1, 4, 5, 8]],
  ["~u '/a%_\\\\b'", [10]],
  ["~hq x-trace", [4]],
  ["~hs 'x-trace: zzz'", [5]],
  ["~hq zzz", []],
  ["~t html", [5]],
  ["~t json & !~t html", [1, 2, 3, 4, 8, 9, 10, 11]],
  ["~b needle", [4, 5, 8]],
  ["~bq needle", [4]],
  ["~bs NEEDLE", [5, 8]],
  ["!~b needle", [1, 2, 3, 6, 7, 9, 10, 11]],
  ["~tls", [6]],
  ["!~tls", [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]],
  ["~ws", [8]],
  ["~dns", [7]],
  ["~http & ~c 302", [10]],
  ["abc-123", [4]],
  ["ITEM/3", [4]],
  ["/item/", [1, 4, 5, 8]],
  ["~ja4 t13d*", [6]],
  ["!~ja4 t13d*", [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]],
  ["(~m GET | ~m POST) & !~h api.example.com & !~ws", [3, 10, 11]],
  ["~u 'ünïcode'", [9]],
  ["~c 404 & ~u ï", []],
  ["~c 4xx & ~u ï", []],
];

Deno.test("filter: the SQL and the record predicate select the same records", () => {
  const store = new RecordStore(":memory:");
  try {
    store.insertBatch(records);
    assert.equal(store.count(), records.length);
    const parsed = records.map((r) => JSON.parse(r));
    for (const [expr, expected] of CASES) {
      const f: RecordFilter = { expr };
      const queried = store.listSync(f, 100).records.map((r) => r.id).sort((a, b) => a - b);
      const test = filterMatcher(f);
      const matched = parsed.flatMap((r, i) => test(r) ? [i + 1] : []);
      assert.deepEqual(queried, matched, `${expr}: SQL ${queried} vs predicate ${matched}`);
      assert.deepEqual(matched, expected, `${expr}: expected ${expected}, got ${matched}`);
      assert.deepEqual(
        parsed.flatMap((r, i) => recordMatcher(compileFilter(expr))(r) ? [i + 1] : []),
        matched,
      );
    }
  } finally {
    store.close();
  }
});

Deno.test("filter: JA3 and JA4 columns, filled from the ClientHello bytes", () => {
  const store = new RecordStore(":memory:");
  try {
    store.insertBatch(records);
    const tls = store.listSync({ expr: "~tls" }, 10).records[0];
    assert.match(tls.ja3 ?? "", /^[0-9a-f]{32}$/);
    assert.match(tls.ja4 ?? "", /^t13d0303h2_[0-9a-f]{12}_[0-9a-f]{12}$/);
    assert.deepEqual(store.listSync({ expr: `~ja3 ${tls.ja3}` }, 10).records.map((r) => r.id), [6]);
    assert.deepEqual(store.listSync({ expr: `~ja4 ${tls.ja4}` }, 10).records.map((r) => r.id), [6]);
    assert.deepEqual(store.listSync({ expr: `~ja3 ${"0".repeat(32)}` }, 10).records, []);
  } finally {
    store.close();
  }
});

Deno.test("filter: inexact expressions page through candidates and stats count matches", () => {
  const store = new RecordStore(":memory:");
  try {
    store.insertBatch(records);
    const page1 = store.listSync({ expr: "~b needle" }, 2);
    assert.deepEqual(page1.records.map((r) => r.id), [8, 5]);
    assert.equal(page1.next, 5);
    const page2 = store.listSync({ expr: "~b needle" }, 2, page1.next!);
    assert.deepEqual(page2.records.map((r) => r.id), [4]);
    assert.equal(page2.next, null);
    const stats = store.statsSync({ expr: "~b needle" }) as { total: number };
    assert.equal(stats.total, 3);
    const exact = store.statsSync({ expr: "~c 4xx" }) as { total: number };
    assert.equal(exact.total, 1);
    assert.deepEqual(store.fullSync({ expr: "~bq needle" }).map((r) => r.id), [4]);
  } finally {
    store.close();
  }
});
