/**
 * V8 settings snoop ships with: `deno task start` and the compiled binaries carry them
 * (deno.json, scripts/compile.ts), and the benchmarks start snoop with them, as users run it.
 * V8 reads them once, when it sets up the heap, so they cannot be set from inside the
 * program (`node:v8`'s `setFlagsFromString` at start-up changed nothing here).
 *
 * `--initial-old-space-size=64`: under bench (a)'s load V8 grew the young generation to 32 MiB
 * and then started an incremental mark-compact whenever the old generation had less room left
 * than that, about once a second (5-6 in 5 s) with ~7 ms of marking steps in between the
 * requests each time. Those windows were the step from p90 to p99 that a Deno relay without
 * them does not have. With the old generation's limit starting at 64 MiB, none ran during
 * the load (snoop's own collection when it goes quiet takes the garbage back), and p99 fell in
 * every one of 5 alternating rounds: 4.00-5.54 against 4.35-7.33 ms without a recorder,
 * 4.38-6.53 against 5.42-8.39 with the http recorder. Idle RSS and RSS per idle tunnel stayed
 * the same (bench compare (e)).
 */
export const SNOOP_V8_FLAGS = "--initial-old-space-size=64";
