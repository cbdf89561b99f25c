/**
 * Builds self-contained snoop executables with `deno compile` for each target.
 *
 *   deno task compile                 # all targets into dist/
 *   deno task compile x86_64-unknown-linux-gnu
 *
 * `deno compile` downloads a small runtime (denort) per target from Deno's servers the first
 * time; where those cannot be reached the target fails and this script says so and exits 1.
 * It never reports a binary it did not build.
 */
import { SNOOP_V8_FLAGS } from "./lib/v8_flags.ts";

const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

const wanted = Deno.args.length ? Deno.args : TARGETS;
await Deno.mkdir("dist", { recursive: true });
let failed = 0;
for (const target of wanted) {
  const output = `dist/snoop-${target}${target.includes("windows") ? ".exe" : ""}`;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      `--v8-flags=${SNOOP_V8_FLAGS}`,
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      // malloc_trim when idle (src/util/idle_collection.ts); nothing else loads a library.
      "--allow-ffi",
      // Workers are not found by following imports; the store recorder's is one.
      "--include",
      "src/store/store_worker_script.ts",
      "--target",
      target,
      "--output",
      output,
      "mod.ts",
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code === 0) {
    console.log(`built ${output}`);
  } else {
    failed++;
    const why = new TextDecoder().decode(stderr).trim().split("\n").filter((l) =>
      /error|fail/i.test(l)
    )
      .slice(0, 3).join(" | ");
    console.error(`FAILED ${target}: ${why || "deno compile exited " + code}`);
  }
}
if (failed) {
  console.error(
    `${failed} of ${wanted.length} targets failed. deno compile needs to download its runtime ` +
      "from Deno's servers; run this where they can be reached.",
  );
  Deno.exit(1);
}
