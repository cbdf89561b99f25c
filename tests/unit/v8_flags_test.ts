import assert from "node:assert/strict";
import { SNOOP_V8_FLAGS } from "../../scripts/lib/v8_flags.ts";

const root = new URL("../../", import.meta.url);

Deno.test("v8 flags: deno task start and the compiled binaries carry the ones snoop ships with", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const start: string = config.tasks.start;
  assert.ok(
    start.startsWith(`deno run --v8-flags=${SNOOP_V8_FLAGS} `),
    `deno.json's start task: ${start}`,
  );
  const compile = await Deno.readTextFile(new URL("scripts/compile.ts", root));
  assert.match(compile, /"compile",[^\]]*`--v8-flags=\$\{SNOOP_V8_FLAGS\}`/);
});
