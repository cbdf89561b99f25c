import assert from "node:assert/strict";
import { RecordStore } from "../../src/store/record_store.ts";
import { splitRange, statsFromStore } from "../../src/store/rollups.ts";
import type { RecordFilter } from "../../src/store/filter.ts";

const MIN = 60_000, HOUR = 3_600_000, DAY = 86_400_000;

Deno.test("splitRange: whole days, then whole hours, then raw edges", () => {
  const t0 = Date.UTC(2026, 10, 20);
  const plan = splitRange([t0 + 90 * MIN + 5, t0 + 2 * DAY + 30 * MIN], [DAY, HOUR]);
  assert.deepEqual(plan.buckets, [
    { size: HOUR, range: [t0 + 2 * HOUR, t0 + DAY] },
    { size: DAY, range: [t0 + DAY, t0 + 2 * DAY] },
  ]);
  assert.deepEqual(plan.raw, [[t0 + 90 * MIN + 5, t0 + 2 * HOUR], [
    t0 + 2 * DAY,
    t0 + 2 * DAY + 30 * MIN,
  ]]);
  assert.deepEqual(splitRange([-Infinity, Infinity], [DAY, HOUR]).buckets, [
    { size: DAY, range: [-Infinity, Infinity] },
  ]);
  assert.deepEqual(splitRange([t0 + 5, t0 + 7], [DAY, HOUR]), {
    buckets: [],
    raw: [[t0 + 5, t0 + 7]],
  });
});

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function lcg(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

Deno.test("aggregates from rollups equal aggregates from raw records, before and after retention", () => {
  const store = new RecordStore(":memory:");
  const rnd = lcg(7);
  const start = Date.UTC(2026, 10, 20, 3, 17);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  let t = start;
  for (let batch = 0; batch < 20; batch++) {
    const records: string[] = [];
    for (let i = 0; i < 100; i++) {
      t += Math.floor(rnd() * 3 * MIN);
      const tls = rnd() < 0.3;
      records.push(JSON.stringify({
        service: pick(["edge", "office"]),
        host: pick(["a.test:443", "b.test:443", "c.test:80", "d.test:443"]),
        proto: tls ? "tls" : "http",
        http: tls ? undefined : {
          method: "GET",
          uri: "/x",
          statusCode: pick([0, 101, 200, 204, 302, 404, 500, 503]),
        },
        tls: tls ? { serverName: "a.test" } : undefined,
        err: rnd() < 0.1 ? "boom" : "",
        inputBytes: Math.floor(rnd() * 1000),
        outputBytes: Math.floor(rnd() * 5000),
        time: new Date(t).toISOString(),
      }));
    }
    store.insertBatch(records);
  }
  const end = t;
  const filters: RecordFilter[] = [
    {},
    { since: start + 5 * HOUR + 123, until: start + 2 * DAY + 7 * MIN },
    { since: Date.UTC(2026, 10, 21), until: Date.UTC(2026, 10, 22) - 1 },
    { service: "edge", status: "5xx" },
    { proto: "tls", since: start + DAY },
    { status: "2xx", until: end - 3 * HOUR },
    { host: "a.test", since: start + HOUR }, // not answerable by rollups: raw both ways
  ];
  const check = () => {
    for (const f of filters) {
      const fromRollups = statsFromStore(store.db, f);
      assert.deepEqual(fromRollups, statsFromStore(store.db, f, false), JSON.stringify(f));
    }
  };
  check();
  assert.ok(statsFromStore(store.db, {}).total === 2000);
  // Retention subtracts what it deletes from the rollups.
  const keep = new RecordStore(":memory:", { maxAgeMs: 0, maxRecords: 1234 });
  keep.insertBatch(store.fullSync({}, 5000).map((r) => JSON.stringify(r.json)));
  keep.enforceRetention();
  assert.equal(statsFromStore(keep.db, {}).total, 1234);
  for (const f of filters) {
    assert.deepEqual(
      statsFromStore(keep.db, f),
      statsFromStore(keep.db, f, false),
      JSON.stringify(f),
    );
  }
  store.close();
  keep.close();
});
