/**
 * Longer fuzzing runs of the parser properties in tests/fuzz/properties.ts (the CI run keeps
 * a bounded number of cases). Starts from the seed corpus there (valid requests, responses,
 * the seed page's ClientHello and ServerHello, DNS messages, WebSocket frames, HTTP/2
 * transcripts, the example configs) and mutates it.
 *
 *   deno task fuzz                      every property, 100,000 cases each
 *   deno task fuzz --runs 1000000 --seconds 600 --only http/1
 *   deno task fuzz --seed 1234 --path "12:3"   replay a failure fast-check printed
 */
import fc from "fast-check";
import { parseArgs } from "node:util";
import { PROPERTIES } from "./lib/fuzz_properties.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "100000" },
    seconds: { type: "string", default: "300" },
    seed: { type: "string" },
    path: { type: "string" },
    only: { type: "string" },
  },
});
const selected = PROPERTIES.filter((p) => !values.only || p.name.includes(values.only));
if (selected.length === 0) {
  console.error(`no property matches "${values.only}"`);
  Deno.exit(2);
}
let failed = 0;
for (const { name, property } of selected) {
  const t0 = performance.now();
  const details = await fc.check(property, {
    numRuns: Number(values.runs),
    interruptAfterTimeLimit: Number(values.seconds) * 1000,
    ...(values.seed ? { seed: Number(values.seed) } : {}),
    ...(values.path ? { path: values.path } : {}),
  });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (details.failed) {
    failed++;
    console.log(`FAIL ${name} (seed ${details.seed}, path "${details.counterexamplePath}")`);
    console.log(fc.defaultReportMessage(details));
  } else {
    console.log(`ok   ${name}: ${details.numRuns.toLocaleString("en")} cases in ${secs} s`);
  }
}
Deno.exit(failed ? 1 : 0);
