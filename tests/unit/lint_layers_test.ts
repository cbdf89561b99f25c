import assert from "node:assert/strict";
import { importsOf, LAYERS, violations } from "../../scripts/lint_layers.ts";

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

Deno.test("lint:layers allows downward imports and refuses upward ones", () => {
  const files = new Map([
    ["src/handler/http.ts", 'import { a } from "../net/address.ts";'],
    ["src/tunnel/relay.ts", 'import { d } from "../protocol/detect.ts";'],
    ["src/net/dial.ts", 'import { h } from "../handler/http.ts";'],
    ["src/protocol/x.ts", 'import { s } from "../sniff/exchange.ts";'],
    ["src/util/bytes.ts", 'import { c } from "../cli/cli.ts";'],
    ["src/newfolder/y.ts", ""],
    ["src/loose.ts", 'import { log } from "./util/log.ts";'],
  ]);
  const found = violations(files).map((v) => `${v.from} -> ${v.to}: ${v.why}`);
  assert.deepEqual(found, [
    "src/net/dial.ts -> src/handler/http.ts: src/net imports src/handler, a layer above it",
    "src/protocol/x.ts -> src/sniff/exchange.ts: src/protocol imports src/sniff, a layer above it",
    "src/util/bytes.ts -> src/cli/cli.ts: src/util imports src/cli, a layer above it",
    "src/newfolder/y.ts -> src/newfolder/y.ts: folder src/newfolder has no layer in scripts/lint_layers.ts",
    "src/loose.ts -> src/loose.ts: a module at src/ root has no layer: put it in the folder of its layer",
  ]);
});

Deno.test("lint:layers refuses an import between folders that share a rank", () => {
  const layers = [["top"], ["left", "right"], ["bottom"]];
  const files = new Map([
    ["src/left/a.ts", 'import { b } from "../right/b.ts";\nimport { c } from "../bottom/c.ts";'],
    ["src/top/t.ts", 'import { a } from "../left/a.ts";'],
  ]);
  const found = violations(files, layers).map((v) => `${v.from} -> ${v.to}: ${v.why}`);
  assert.deepEqual(found, [
    "src/left/a.ts -> src/right/b.ts: src/left imports src/right, a layer beside it",
  ]);
});

Deno.test("lint:layers ranks every folder of src/ once", () => {
  const folders = LAYERS.flat();
  assert.equal(new Set(folders).size, folders.length);
  for (const e of Deno.readDirSync(new URL("../../src", import.meta.url))) {
    if (e.isDirectory) assert.ok(folders.includes(e.name), `src/${e.name} has no layer`);
  }
});
