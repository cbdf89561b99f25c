import assert from "node:assert/strict";
import { formatFilter, parseFilter, regexProblem } from "../../src/store/filter_language.ts";
import { compileFilter } from "../../src/store/filter_conditions.ts";
import { recordMatcher } from "../../src/store/filter_match.ts";
import {
  buildWhere,
  CANDIDATE_LIMIT,
  filterMatcher,
  type RecordFilter,
} from "../../src/store/filter.ts";
import { RecordStore } from "../../src/store/record_store.ts";
import { CASES, records } from "../helpers/filter_cases.ts";
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
  for (
    const bad of ["(a+)+", "(a|aa)*", "(.*a){20}", "(?=a)", "(a)\\1", "a.*a.*a.*b", "x+y+z{2,}"]
  ) {
    assert.ok(regexProblem(bad), bad);
  }
  for (
    const ok of ["^/api/v[0-9]+/", "a+b*", "(ab)+", "(a|b)c", "[(+]+", "\\(a+\\)+", "[*+]a\\*+"]
  ) {
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

Deno.test("a store from before JA3/JA4 gains the columns, filled from its records' hellos", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-ja-migrate-" });
  try {
    const path = `${dir}/records.db`;
    const old = new RecordStore(path);
    old.insertBatch(records);
    // Make it the older shape: no fingerprint columns or indexes.
    old.db.exec(
      "DROP INDEX records_ja3; DROP INDEX records_ja4;" +
        " ALTER TABLE records DROP COLUMN ja3; ALTER TABLE records DROP COLUMN ja4;",
    );
    old.close();
    const store = new RecordStore(path);
    try {
      const tls = store.listSync({ expr: "~tls" }, 10).records;
      assert.deepEqual(tls.map((r) => r.id), [6]);
      assert.match(tls[0].ja4 ?? "", /^t13d0303h2_/);
      assert.equal(store.listSync({ expr: `~ja3 ${tls[0].ja3}` }, 10).records.length, 1);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("filter: a tested term reads at most CANDIDATE_LIMIT candidates per page, then says so", () => {
  const store = new RecordStore(":memory:");
  try {
    const n = CANDIDATE_LIMIT + 500;
    for (let i = 0; i < n; i += 500) {
      store.insertBatch(Array.from({ length: 500 }, (_, k) => sampleRecord(i + k)));
    }
    // Nothing narrows the candidates and only the oldest record matches: the first page
    // stops short of it.
    const first = store.listSync({ expr: "~bs '{}' & ~u '^/item/0+$'" }, 10);
    assert.deepEqual(first.records, []);
    assert.equal(first.partial, true);
    assert.equal(first.next, n - CANDIDATE_LIMIT + 1);
    const rest = store.listSync({ expr: "~bs '{}' & ~u '^/item/0+$'" }, 10, first.next!);
    assert.deepEqual(rest.records.map((r) => r.id), [1]);
    assert.equal(rest.next, null);
    assert.equal(rest.partial, undefined);
  } finally {
    store.close();
  }
});
