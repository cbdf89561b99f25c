/**
 * Records with the shapes each filter operator looks at (hostile ones too), and expressions
 * with the records (1-based ids, in insertion order) each must select.
 */
import { Buffer } from "node:buffer";
import { clientHelloRecords } from "./tls_hello_builder.ts";
import { sampleRecord } from "./records.ts";

const hello = Buffer.from(clientHelloRecords()).toString("hex");
export const records = [
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
export const CASES: [string, number[]][] = [
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
  // A regex reads the URI column as plain text does: for TLS the SNI, for DNS the name.
  ["~u secure", [6]],
  ["~u secu+re", [6]],
  ["~u '^example[.]com[.]$'", [7]],
  ["~u '^exam?ple'", [7]],
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
