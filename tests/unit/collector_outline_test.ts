import assert from "node:assert/strict";
import { outline } from "../../src/collector/json_elements.ts";

const encode = (s: string) => new TextEncoder().encode(s);

Deno.test("outline: count and depth in one pass, strings skipped whatever they hold", () => {
  const cases: [string, number, boolean][] = [
    // text, elements, deeper than 3 levels
    ["[]", 0, false],
    ["{}", 1, false],
    ['[{"a":"]]]]"},{"b":"\\"[[[[[,"}]', 2, false],
    ['[{"k":"\\\\"},[1,[2]]]', 2, false],
    ["[[[[1]]]]", 1, true],
    ['{"a":{"b":{"c":{"d":1}}}}', 1, true],
    // The array ends before the nest: depth counts on, elements do not.
    ["[1,2] [[[[", 2, true],
  ];
  for (const [text, elements, tooDeep] of cases) {
    assert.deepEqual(outline(encode(text), 100, 3), { elements, tooDeep }, text);
  }
});

Deno.test("outline: stops at the element cap before reading a deep nest after it", () => {
  const text = `[${Array(20).fill("{}").join(",")},${"[".repeat(1000)}]`;
  assert.deepEqual(outline(encode(text), 10, 32), { elements: 11, tooDeep: false });
  assert.deepEqual(outline(encode(text), 100, 32).tooDeep, true);
});
