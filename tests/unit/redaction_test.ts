import assert from "node:assert/strict";
import type { HandlerRecord } from "../../src/record/record.ts";
import {
  DEFAULT_REDACTED_HEADERS,
  DEFAULT_REDACTED_QUERY,
  redactRecord,
  redactUri,
} from "../../src/record/redaction.ts";

const redaction = {
  headers: new Set(DEFAULT_REDACTED_HEADERS),
  query: new Set(DEFAULT_REDACTED_QUERY),
};

Deno.test("redactUri replaces the values of secret query parameters, keeping the rest as sent", () => {
  const q = new Set(["token", "api_key"]);
  assert.equal(redactUri("/a?token=abc&x=1", q), "/a?token=REDACTED&x=1");
  assert.equal(
    redactUri("http://h/p?x=1&API_KEY=k#frag", q),
    "http://h/p?x=1&API_KEY=REDACTED#frag",
  );
  assert.equal(redactUri("/a?tokenize=1&x", q), "/a?tokenize=1&x");
  assert.equal(redactUri("/a?%74oken=z", q), "/a?%74oken=REDACTED");
  assert.equal(redactUri("/no-query", q), "/no-query");
});

Deno.test("redactRecord replaces secret header values in a copy and leaves the rest", () => {
  const record = {
    service: "s",
    http: {
      host: "h",
      method: "GET",
      proto: "HTTP/1.1",
      scheme: "",
      uri: "/login?password=hunter2&next=/home",
      statusCode: 200,
      request: {
        contentLength: 0,
        header: { "Authorization": ["Bearer t"], "Cookie": ["a=1", "b=2"], "Accept": ["*/*"] },
        body: null,
      },
      response: { contentLength: 0, header: { "Set-Cookie": ["sid=s3cret"] }, body: null },
    },
  } as unknown as HandlerRecord;
  const out = redactRecord(record, redaction);
  assert.deepEqual(out.http!.request.header, {
    "Authorization": ["REDACTED"],
    "Cookie": ["REDACTED", "REDACTED"],
    "Accept": ["*/*"],
  });
  assert.deepEqual(out.http!.response.header, { "Set-Cookie": ["REDACTED"] });
  assert.equal(out.http!.uri, "/login?password=REDACTED&next=/home");
  // The original is untouched (the sniffer's objects are not ours to change).
  assert.deepEqual(record.http!.request.header!["Authorization"], ["Bearer t"]);
  const clean = {
    service: "s",
    http: {
      ...record.http!,
      uri: "/",
      request: { contentLength: 0, header: { "Accept": ["*/*"] }, body: null },
      response: { contentLength: 0, header: null, body: null },
    },
  } as unknown as HandlerRecord;
  assert.equal(redactRecord(clean, redaction), clean, "nothing to hide: the same object");
});

Deno.test("header names match case-insensitively, by length first when every name is ASCII", () => {
  const recordWith = (header: Record<string, string[]>) =>
    ({
      service: "s",
      http: {
        host: "h",
        method: "GET",
        proto: "HTTP/2.0",
        scheme: "https",
        uri: "/",
        statusCode: 200,
        request: { contentLength: 0, header, body: null },
        response: { contentLength: 0, header: null, body: null },
      },
    }) as unknown as HandlerRecord;
  const headersOf = (r: HandlerRecord) => r.http!.request.header;
  const ascii = { headers: new Set(["x-api-key", "cookie"]), query: new Set<string>() };
  assert.deepEqual(
    headersOf(
      redactRecord(recordWith({ "X-API-KEY": ["k"], "x-api-key": ["k2"], "Accept": ["a"] }), ascii),
    ),
    { "X-API-KEY": ["REDACTED"], "x-api-key": ["REDACTED"], "Accept": ["a"] },
    "same length, any case: redacted; 'Accept' has cookie's length and is kept",
  );
  // A configured name that is not ASCII: every key is lower-cased and compared, whatever its
  // length ("İ" lower-cases to two chars, "i" and a combining dot).
  const dotted = { headers: new Set(["x-i\u0307d"]), query: new Set<string>() };
  assert.deepEqual(
    headersOf(redactRecord(recordWith({ "X-\u0130d": ["v"], "X-Id": ["w"] }), dotted)),
    { "X-\u0130d": ["REDACTED"], "X-Id": ["w"] },
  );
});
