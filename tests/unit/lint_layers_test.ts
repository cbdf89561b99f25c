import assert from "node:assert/strict";
import { importsOf, violations } from "../../scripts/lint_layers.ts";

Deno.test("lint:layers reads static, re-export and dynamic imports", () => {
  const text = [
    'import { a } from "../net/address.ts";',
    'import type { B } from "./b.ts";',
    'export { c } from "../util/bytes.ts";',
    'const m = await import("../web/web_app.ts");',
    'import x from "node:zlib";',
  ].join("\n");
  assert.deepEqual(importsOf("src/handler/http.ts", text), [
    "src/net/address.ts",
    "src/handler/b.ts",
    "src/util/bytes.ts",
    "src/web/web_app.ts",
  ]);
});

Deno.test("lint:layers allows downward imports and refuses upward and sideways ones", () => {
  const files = new Map([
    ["src/handler/http.ts", 'import { a } from "../net/address.ts";'],
    ["src/net/dial.ts", 'import { h } from "../handler/http.ts";'],
    ["src/sniff/x.ts", 'import { r } from "../relay/relay.ts";'],
    ["src/util/bytes.ts", 'import { log } from "../log.ts";'],
    ["src/newfolder/y.ts", ""],
  ]);
  const found = violations(files).map((v) => `${v.from} -> ${v.to}: ${v.why}`);
  assert.deepEqual(found, [
    "src/net/dial.ts -> src/handler/http.ts: src/net imports src/handler, a layer above it",
    "src/sniff/x.ts -> src/relay/relay.ts: src/sniff imports src/relay, a layer beside it",
    "src/util/bytes.ts -> src/log.ts: src/util imports src/(root), a layer above it",
    "src/newfolder/y.ts -> src/newfolder/y.ts: folder src/newfolder has no layer in scripts/lint_layers.ts",
  ]);
});
