/**
 * V8 settings snoop ships with: `deno task start` and the compiled binaries carry them
 * (deno.json, scripts/compile.ts), and the benchmarks start snoop with them, as users run it.
 * V8 reads them once, when it sets up the heap, so they cannot be set from inside the
 * program (`node:v8`'s `setFlagsFromString` at start-up changed nothing here).
 *
 * `--initial-old-space-size=64`: under sustained load V8 grew the young generation and then
 * started an incremental mark-compact whenever the old generation had less room left than
 * that, many times a minute, with marking steps in between the requests each time. Those
 * windows were the step from p90 to p99 that a Deno relay without them does not have. With
 * the old generation's limit starting at 64 MiB, none ran during the load (snoop's own
 * collection when it goes quiet takes the garbage back), and p99 fell, with and without a
 * recorder (`deno task bench compare` (a) and (e) measure both).
 *
 * `--max-semi-space-size=8`: the young generation of each isolate (the proxy's and the store
 * worker's) grew to 32 MiB under load, most of it garbage between scavenges; capped at 16 MiB
 * the main job's peak RSS under `bench mainjob`'s load fell by about 70 MiB at the same req/s
 * and p99 (docs/performance-history.md has the runs).
 */
export const SNOOP_V8_FLAGS = "--initial-old-space-size=64,--max-semi-space-size=8";
