import assert from "node:assert/strict";
import { topLevelElements } from "../../src/collector/json_elements.ts";
import { recordProblem } from "../../src/collector/record_shape.ts";
import { sampleRecord } from "../helpers/records.ts";

const encode = (s: string) => new TextEncoder().encode(s);

Deno.test("record shape: GOST's records, snoop's and the seed's pass, extra fields too", async () => {
  const seed = (await Deno.readTextFile("tests/fixtures/seed_records.jsonl")).trim().split("\n");
  for (const text of [...seed, sampleRecord(0), sampleRecord(1, { mine: { any: [1] } })]) {
    assert.equal(recordProblem(JSON.parse(text), "records[0]"), null, text.slice(0, 80));
  }
  assert.equal(recordProblem({}, "records[0]"), null);
  assert.equal(
    recordProblem({ http: { request: { header: null, body: null } } }, "records[0]"),
    null,
  );
});

Deno.test("record shape: the first bad field is named by its path", () => {
  const bad = (over: Record<string, unknown>) =>
    recordProblem(JSON.parse(sampleRecord(0, over)), "records[3]");
  assert.equal(
    bad({ http: { request: { contentLength: 0, header: { X: "v" }, body: null } } }),
    "records[3].http.request.header.X: expected a list of strings",
  );
  assert.equal(
    bad({ http: { response: { contentLength: 0, header: { "A B": [1] }, body: null } } }),
    'records[3].http.response.header["A B"]: expected a list of strings',
  );
  assert.equal(bad({ service: 5 }), "records[3].service: expected a string");
  assert.equal(bad({ inputBytes: "12" }), "records[3].inputBytes: expected a number");
  assert.equal(
    bad({ http: { statusCode: "200" } }),
    "records[3].http.statusCode: expected a number",
  );
  assert.equal(bad({ http: { cached: 1 } }), "records[3].http.cached: expected true or false");
  assert.equal(
    bad({ http: { request: { contentLength: 0, header: {}, body: 7 } } }),
    "records[3].http.request.body: expected base64 text or null",
  );
  assert.equal(bad({ tls: "tls1.3" }), "records[3].tls: expected an object");
  assert.equal(bad({ dns: { id: 1, name: 2 } }), "records[3].dns.name: expected a string");
  assert.equal(bad({ labels: { a: 1 } }), "records[3].labels.a: expected a string");
  assert.equal(recordProblem([1], "records[0]"), "records[0]: expected a record (a JSON object)");
  assert.equal(recordProblem(null, "records[0]"), "records[0]: expected a record (a JSON object)");
  // A key from the peer comes back quoted and cut short.
  const long = "x".repeat(200) + '"';
  const problem = bad({ http: { request: { contentLength: 0, header: { [long]: "v" } } } })!;
  assert.ok(problem.length < 140, problem);
  assert.match(problem, /^records\[3\]\.http\.request\.header\["x{64}…"\]: expected/);
});

Deno.test("top-level elements: counted on the bytes, strings and nesting skipped", () => {
  const cases: [string, number][] = [
    ["[]", 0],
    [" [ ] ", 0],
    ["{}", 1],
    ['"a,b"', 1],
    ["[1]", 1],
    ['[{"a":[1,2,3]},{"b":"x,y]}"},3]', 3],
    ['["\\",", ","]', 2],
    ["[[1,2],[3,[4,5]]]", 2],
    ['[{"k":"\\\\"},2]', 2],
  ];
  for (const [text, want] of cases) {
    assert.equal(topLevelElements(encode(text), 100), want, text);
    assert.equal(JSON.parse(text) instanceof Array ? JSON.parse(text).length : 1, want, text);
  }
  // Past the cap the count stops: max + 1.
  const many = encode(`[${Array(50).fill("{}").join(",")}]`);
  assert.equal(topLevelElements(many, 10), 11);
  assert.equal(topLevelElements(many, 50), 50);
  assert.equal(topLevelElements(many, 49), 50);
});
