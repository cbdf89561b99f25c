/**
 * `deno task bundle`'s output runs alone: built into a temporary file, then run with an
 * empty DENO_DIR inside a new network namespace (nothing but loopback) through the smoke
 * checks of tests/helpers/smoke_driver.ts: the seed's sniffing example with its webhook, the
 * MITM path with curl trusting only snoop's CA, the main job's store (its worker) and UI.
 */
import assert from "node:assert/strict";
import { buildBundle, embedWorkers, findWorkers } from "../../scripts/bundle.ts";
import { needs } from "../helpers/harness.ts";
import { namespaceRefusal, smokeInNamespace } from "../helpers/smoke.ts";

const IN_CI = Deno.env.get("CI") === "true";

const refusal = needs("unshare", "ip", "curl", "openssl")
  ? "missing programs"
  : await namespaceRefusal();
if (refusal && !IN_CI) console.warn(`ignored: ${refusal}`);

Deno.test({
  name: "bundle: dist/snoop.js runs offline with an empty DENO_DIR (seed, MITM, store, UI)",
  ignore: !!refusal && !IN_CI,
  sanitizeResources: false,
  async fn() {
    if (refusal) throw new Error(refusal);
    const work = await Deno.makeTempDir({ prefix: "snoop-bundle-test-" });
    try {
      const { output, workers } = await buildBundle(`${work}/snoop.js`);
      assert(workers.some((w) => w.script === "src/store/store_worker_script.ts"));
      const text = await Deno.readTextFile(output);
      assert(!/new\s+Worker\(\s*new\s+URL\(/.test(text), "a worker URL left in the bundle");
      assert(!/from\s+["'](npm|jsr|https?):/.test(text), "an import left to download");
      const out = await smokeInNamespace(work, [
        Deno.execPath(),
        "run",
        "--allow-all",
        "--no-config",
        "--v8-flags=--initial-old-space-size=64,--max-semi-space-size=8",
        output,
      ]);
      assert.match(out, /SMOKE OK seed-sniffing/, out);
      assert.match(out, /SMOKE OK mitm/, out);
      assert.match(out, /SMOKE OK ui/, out);
      assert.match(out, /SMOKE DONE/, out);
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("bundle: a worker the script cannot embed fails the build, not the first use", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-workers-" });
  try {
    await Deno.mkdir(`${dir}/a`);
    await Deno.writeTextFile(
      `${dir}/a/ok.ts`,
      `const w = new Worker(new URL("./w.ts", import.meta.url), { type: "module" });\n`,
    );
    const found = await findWorkers(dir);
    assert.equal(found.length, 1);
    assert.equal(found[0].specifier, "./w.ts");
    assert.match(found[0].script, /a\/w\.ts$/);
    await Deno.writeTextFile(`${dir}/a/bad.ts`, `new Worker("./w.js", { type: "module" });\n`);
    await assert.rejects(() => findWorkers(dir), /bad\.ts:1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // A worker the output does not show, and two scripts written the same way.
  const site = { file: "x.ts", line: 1, specifier: "./w.ts", script: "src/a/w.ts" };
  assert.throws(
    () => embedWorkers("console.log(1)", [site], new Map([["src/a/w.ts", ""]])),
    /not found in the bundle/,
  );
  assert.throws(
    () =>
      embedWorkers(
        `new Worker(new URL("./w.ts", import.meta.url))`,
        [site, { ...site, script: "src/b/w.ts" }],
        new Map(),
      ),
    /rename one/,
  );
  assert.throws(
    () =>
      embedWorkers(
        `new Worker(new URL("./w.ts", import.meta.url)); new Worker(somewhere)`,
        [site],
        new Map([["src/a/w.ts", ""]]),
      ),
    /left unembedded/,
  );
  // And the embedded one is started from the table, which works before the module ends.
  const out = embedWorkers(
    `new Worker(new URL("./w.ts", import.meta.url))`,
    [site],
    new Map([["src/a/w.ts", "self.close()"]]),
  );
  assert.match(out, /^new Worker\(__snoopWorkerUrl\("src\/a\/w\.ts"\)\)/);
});
