import fc from "fast-check";
import { PROPERTIES } from "../../scripts/lib/fuzz_properties.ts";

/**
 * The parser properties, a bounded number of cases each (SNOOP_FUZZ_RUNS, default 300) with
 * a seed that changes per run and is printed on failure, so a failure can be replayed:
 * `deno task fuzz --seed N --runs M`.
 */
const runs = Number(Deno.env.get("SNOOP_FUZZ_RUNS") ?? 300);

for (const { name, property } of PROPERTIES) {
  Deno.test(`fuzz: ${name}`, () => {
    fc.assert(property, { numRuns: runs, interruptAfterTimeLimit: 20_000 });
  });
}
