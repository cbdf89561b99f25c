/**
 * `deno task compile`'s binary for this machine goes through the same smoke checks as the
 * bundle (tests/e2e/bundle_test.ts), in a network namespace with an empty DENO_DIR.
 *
 * `deno compile` downloads its runtime (denort) from Deno's servers. Where that download
 * fails, and only then (recognised by deno compile's own error text), the smoke checks cannot
 * run: the test then checks that the download is the only thing that failed, and prints the
 * reason. Any other compile failure fails the test.
 */
import assert from "node:assert/strict";
import { buildBundle } from "../../scripts/bundle.ts";
import { compileBundle, type CompileResult, hostTarget } from "../../scripts/compile.ts";
import { needs } from "../helpers/harness.ts";
import { namespaceRefusal, smokeInNamespace } from "../helpers/smoke.ts";

const IN_CI = Deno.env.get("CI") === "true";

const work = await Deno.makeTempDir({ prefix: "snoop-compile-test-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
});

let compiled: CompileResult | undefined;
let skip: string | undefined;
const missing = needs("unshare", "ip", "curl", "openssl");
const refusal = missing ? "missing programs" : await namespaceRefusal();
if (refusal && !IN_CI) skip = refusal;
if (!skip && !refusal) {
  const { output } = await buildBundle(`${work}/snoop.js`);
  compiled = await compileBundle(output, hostTarget(), `${work}/snoop`);
}
if (skip) console.warn(`ignored: ${skip}`);

Deno.test({
  name:
    "compile: the binary runs offline (seed, MITM, store, UI), or only its runtime download failed",
  ignore: !!skip,
  sanitizeResources: false,
  async fn() {
    if (refusal) throw new Error(refusal);
    if (compiled && !compiled.ok && compiled.runtimeUnavailable) {
      console.warn(
        `compile: no binary to smoke-check: deno compile cannot fetch its runtime (denort) ` +
          `here: ${compiled.why}`,
      );
      return;
    }
    assert(compiled?.ok, `deno compile failed: ${compiled?.why}`);
    const out = await smokeInNamespace(work, [compiled.output]);
    assert.match(out, /SMOKE OK seed-sniffing/, out);
    assert.match(out, /SMOKE OK mitm/, out);
    assert.match(out, /SMOKE OK ui/, out);
    assert.match(out, /SMOKE DONE/, out);
  },
});
