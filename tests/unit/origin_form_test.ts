import assert from "node:assert/strict";
import { originForm } from "../../src/handler/origin_form.ts";

Deno.test("origin-form keeps the path and query as sent", () => {
  const cases: [string, string | null][] = [
    ["http://h/a/../b/./c", "/a/../b/./c"],
    ['http://h/%7e?x=%7E&y="z"', '/%7e?x=%7E&y="z"'],
    ["http://h//double//slash", "//double//slash"],
    ["http://h/a\\b", "/a\\b"],
    ["http://h/caf\u00e9", "/caf\u00e9"],
    ["http://u:p@h:8080/x", "/x"],
    ["http://[::1]:8080/v6?q", "/v6?q"],
    ["HTTP://H", "/"],
    ["http://h?q=1", "/?q=1"],
    ["http://h#frag", "/"],
    ["http://h/p?q#frag", "/p?q"],
    ["http://h/p#frag?not-a-query", "/p"],
  ];
  for (const [target, want] of cases) assert.equal(originForm(target), want, target);
});

Deno.test("origin-form refuses what is not absolute-form or holds a control character", () => {
  for (
    const target of [
      "/origin-form",
      "h:80",
      "://h/",
      "http://h/a\tb",
      "http://h/a\x00b",
      "http://h/a\x7fb",
      "http://h\x01/",
      "http://h\\evil/",
    ]
  ) {
    assert.equal(originForm(target), null, JSON.stringify(target));
  }
});
