/**
 * Builds self-contained snoop executables with `deno compile` for each target.
 *
 *   deno task compile                 # all targets into dist/
 *   deno task compile x86_64-unknown-linux-gnu
 *
 * What is compiled is the bundle (scripts/bundle.ts, dist/snoop.js): the workers and the web
 * UI's files are already inside it (workers as embedded sources started from blob: URLs,
 * text imports as strings), so the binary carries exactly what the bundle runs with, and no
 * `--include` list can fall behind a new worker or UI file.
 *
 * `deno compile` downloads a small runtime (denort) per target from Deno's servers the first
 * time; where those cannot be reached the target fails, this script says so and exits 1.
 * It never reports a binary it did not build.
 */
import { buildBundle } from "./bundle.ts";
import { SNOOP_V8_FLAGS } from "./lib/v8_flags.ts";

export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

export interface CompileResult {
  ok: boolean;
  output: string;
  /** Why it failed, from `deno compile`'s error lines. */
  why?: string;
  /** The failure was the download of the runtime (denort), not snoop. */
  runtimeUnavailable?: boolean;
}

/** The host's target triple, for a binary this machine can run. */
export function hostTarget(): string {
  return Deno.build.target;
}

/** `deno compile` of an already built bundle for one target. */
export async function compileBundle(
  bundle: string,
  target: string,
  output: string,
): Promise<CompileResult> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      "--no-config",
      `--v8-flags=${SNOOP_V8_FLAGS}`,
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      // malloc_trim when idle (src/util/idle_collection.ts); nothing else loads a library.
      "--allow-ffi",
      "--target",
      target,
      "--output",
      output,
      bundle,
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code === 0) return { ok: true, output };
  // deno compile's own text, colours removed: "error sending request for url
  // (https://dl.deno.land/release/v2.9.6/denort-<target>.zip): … dns error …".
  // deno-lint-ignore no-control-regex -- ANSI colour codes
  const text = new TextDecoder().decode(stderr).replace(/\x1b\[[0-9;]*m/g, "");
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => /error|fail/i.test(l));
  const runtimeUnavailable =
    /error sending request for url \(https?:\/\/[^)]*\/denort-[\w-]+\.zip\)/.test(text) ||
    /Download[^\n]*denort-[\w-]+\.zip[\s\S]*(dns error|Connect|timed out|connection refused)/i
      .test(text);
  return {
    ok: false,
    output,
    why: lines.slice(0, 3).join(" | ") || `deno compile exited ${code}`,
    runtimeUnavailable,
  };
}

if (import.meta.main) {
  const wanted = Deno.args.length ? Deno.args : TARGETS;
  const { output: bundle } = await buildBundle();
  let failed = 0;
  for (const target of wanted) {
    const output = `dist/snoop-${target}${target.includes("windows") ? ".exe" : ""}`;
    const r = await compileBundle(bundle, target, output);
    if (r.ok) {
      console.log(`built ${output}`);
    } else {
      failed++;
      console.error(`FAILED ${target}: ${r.why}`);
    }
  }
  if (failed) {
    console.error(
      `${failed} of ${wanted.length} targets failed. deno compile needs to download its runtime ` +
        "from Deno's servers; run this where they can be reached.",
    );
    Deno.exit(1);
  }
}
