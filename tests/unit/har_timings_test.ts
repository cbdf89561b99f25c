import assert from "node:assert/strict";
import validate from "har-validator";
import { recordsFromHar, toHar } from "../../src/store/har.ts";
import { sampleRecord } from "../helpers/records.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const sid = () => "crugtkkdfur6asj5vbtg";

Deno.test("HAR timings: snoop's timings go out as HAR phases and come back on import", async () => {
  const timings = { dns: 1.5, connect: 2.25, tls: 7.125, tlsClient: 3, ttfb: 40.5, transfer: 9 };
  const rec = JSON.parse(sampleRecord(1, { duration: 70_000_000, timings }));
  const har = toHar([rec]);
  await validate.har(har);
  const entry: Json = har.log.entries[0];
  assert.equal(entry.time, 70);
  assert.deepEqual(entry.timings, {
    blocked: 9.625, // 70 ms less the phases snoop measured
    dns: 1.5,
    connect: 9.375,
    ssl: 7.125,
    send: 0,
    wait: 40.5,
    receive: 9,
  });
  const back = JSON.parse(recordsFromHar(har, sid).records[0]);
  const { tlsClient: _, ...rest } = timings;
  assert.deepEqual(back.timings, rest);
});

Deno.test("HAR timings: a browser's entry gives its phases; one without them, none", () => {
  const entry = (timings: unknown) => ({
    startedDateTime: "2026-12-01T10:00:00.000Z",
    time: 120,
    request: { method: "GET", url: "https://example.com/", headers: [], httpVersion: "h2" },
    response: { status: 200, headers: [], content: { size: 0 }, httpVersion: "h2" },
    timings,
  });
  const har = {
    log: {
      creator: { name: "WebInspector" },
      entries: [
        entry({ blocked: 2, dns: -1, connect: 30, ssl: 20, send: 0.5, wait: 60, receive: 7.5 }),
        entry({ send: 0, wait: 120, receive: 0 }),
        entry({ dns: "1", connect: 2, send: 0, wait: 3, receive: 4 }),
      ],
    },
  };
  const [chrome, bare, hostile] = recordsFromHar(har, sid).records.map((r) => JSON.parse(r));
  assert.deepEqual(chrome.timings, { dns: 0, connect: 10, tls: 20, ttfb: 60.5, transfer: 7.5 });
  assert.equal(bare.timings, undefined);
  assert.equal(hostile.timings, undefined);
});
