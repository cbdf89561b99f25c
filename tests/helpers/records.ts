/** GOST-shaped records for store tests. */
// deno-lint-ignore no-explicit-any
type Json = any;

export const BASE_TIME = Date.parse("2026-11-27T10:00:00Z");

/** Record `i` (30 s apart), with fields overridden; `http: undefined` removes the section. */
export function sampleRecord(i: number, over: Json = {}): string {
  const { http, ...rest } = over;
  const noHttp = "http" in over && over.http === undefined;
  const record = {
    service: "svc",
    network: "tcp",
    remote: "127.0.0.1:5000",
    local: "127.0.0.1:8080",
    host: "api.example.com:443",
    proto: "http",
    clientIP: "127.0.0.1",
    http: {
      host: "api.example.com",
      method: "GET",
      proto: "HTTP/1.1",
      scheme: "",
      uri: `/item/${i}`,
      statusCode: 200,
      request: { contentLength: 0, header: { "User-Agent": ["curl/8"] }, body: null },
      response: {
        contentLength: 2,
        header: { "Content-Type": ["application/json"] },
        body: btoa("{}"),
      },
      ...http,
    },
    inputBytes: 100,
    outputBytes: 200,
    sid: "crugtkkdfur6asj5vbt" + String.fromCharCode(97 + (i % 20)),
    duration: 5_000_000,
    time: new Date(BASE_TIME + i * 30_000).toISOString(),
    ...rest,
  };
  if (noHttp) delete (record as Json).http;
  return JSON.stringify(record);
}
