import assert from "node:assert/strict";
import { summarizeGcTrace } from "../../scripts/lib/gc_trace.ts";

Deno.test("bench's GC summary reads what this Deno's V8 prints for --trace-gc-nvp", async () => {
  // Young garbage while a few objects stay alive (so scavenges copy something), then one full
  // collection.
  const script = `
    const kept = [];
    for (let i = 0; i < 300000; i++) {
      const o = { i, s: "x" + i };
      if (i % 100 === 0) kept.push(o);
    }
    globalThis.gc();
    console.log("kept", kept.length);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--trace-gc-nvp,--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.match(text, /kept 3000/);
  const gc = summarizeGcTrace(text);
  assert.ok(gc.scavenges >= 1, text.slice(0, 2000));
  assert.ok(gc.survivedBytes > 0, "a scavenge copied the kept objects");
  assert.ok(gc.markCompacts >= 1, "gc() is a mark-compact");
  assert.ok(gc.scavengeMs > 0 && gc.markCompactMs > 0);
  assert.equal(gc.unparsed, 0);
});
