/**
 * Running a built artifact through tests/helpers/smoke_driver.ts inside a new network
 * namespace with an empty DENO_DIR (the bundle, compile and container tests).
 */
import assert from "node:assert/strict";
import { run } from "./harness.ts";

/**
 * Whether this process may make a network namespace. Under CI a refusal is a failure (the
 * test would otherwise pass without checking anything); by hand it ignores the test.
 */
export async function namespaceRefusal(): Promise<string | null> {
  const r = await run("unshare", ["-n", "sh", "-c", "ip link set lo up"], { timeoutMs: 10_000 })
    .catch((e) => ({ code: -1, stdout: "", stderr: String(e) }));
  return r.code === 0 ? null : `unshare -n is not permitted here: ${r.stderr.trim()}`;
}

/** Runs the smoke driver in a fresh namespace against `argv`; returns its output. */
export async function smokeInNamespace(
  work: string,
  argv: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const denoDir = `${work}/deno-dir`;
  await Deno.mkdir(denoDir, { recursive: true });
  const driver = new URL("./smoke_driver.ts", import.meta.url).pathname;
  const quoted = [Deno.execPath(), "run", "--allow-all", driver, work, ...argv]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  // The driver imports nothing, so only the artifact depends on the empty DENO_DIR.
  const r = await run("unshare", [
    "-n",
    "sh",
    "-c",
    `ip link set lo up && DENO_DIR='${denoDir}' exec ${quoted}`,
  ], { timeoutMs: 150_000, env });
  // Nothing was downloaded: the runtime makes an empty npm/ and no remote/ module cache.
  const fetched = [...walk(denoDir)].filter((p) => /\/(npm|remote|deps)\/./.test(p));
  assert.deepEqual(fetched, [], "the artifact downloaded modules");
  return r.stdout + r.stderr;
}

function* walk(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    yield p;
    if (e.isDirectory) yield* walk(p);
  }
}
