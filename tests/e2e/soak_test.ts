import assert from "node:assert/strict";
import { needs, run } from "../helpers/harness.ts";

/**
 * The soak script, shorter (SNOOP_SOAK_WARMUP 75 s of warm-up, SNOOP_SOAK_SECONDS 30 s
 * measured): mixed load through a snoop child process, then RSS, open descriptors and the live
 * JS heap back within 10% of the warmed-up baseline, both measured once snoop has gone quiet
 * and run its idle collection, and after a full garbage collection. The full run is
 * `deno task soak` (10 minutes).
 */
Deno.test({
  name: "soak (short): mixed load, then RSS, open fds and live JS heap back within 10%",
  ignore: needs("openssl"),
  async fn() {
    const seconds = Deno.env.get("SNOOP_SOAK_SECONDS") ?? "30";
    const warmup = Deno.env.get("SNOOP_SOAK_WARMUP") ?? "75";
    const r = await run(Deno.execPath(), [
      "run",
      "--allow-all",
      "scripts/soak.ts",
      "--seconds",
      seconds,
      "--warmup",
      warmup,
      "--json",
    ], { timeoutMs: (Number(seconds) + Number(warmup) + 150) * 1000 });
    const last = r.stdout.trim().split("\n").pop() ?? "";
    assert.ok(last.startsWith("{"), `no summary from the soak script:\n${r.stderr}`);
    const summary = JSON.parse(last);
    for (const [kind, n] of Object.entries(summary.done)) {
      assert.ok((n as number) > 0, `${kind}: nothing completed`);
      assert.equal(
        summary.failed[kind],
        0,
        `${kind} failed ${summary.failed[kind]} times:\n${r.stderr}`,
      );
    }
    // The soak's own table (RSS, fds and heap through the run) goes with any failure.
    const table = r.stderr.slice(r.stderr.indexOf("| when |"));
    assert.ok(
      summary.fdRatio <= 1.1,
      `fds ${summary.baseline.fds} -> ${summary.after.fds}\n${table}`,
    );
    assert.ok(
      summary.heapRatio <= 1.1,
      `live JS heap ${summary.baseline.heapKiB} -> ${summary.after.heapKiB} KiB\n${table}`,
    );
    assert.ok(
      summary.rssRatio <= 1.1,
      `RSS ${summary.baseline.rssKiB} -> ${summary.after.rssKiB} KiB\n${table}`,
    );
    assert.equal(r.code, 0, r.stderr);
  },
});
