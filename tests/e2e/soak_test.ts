import assert from "node:assert/strict";
import { needs, run } from "../helpers/harness.ts";

/**
 * The soak script, shorter (SNOOP_SOAK_WARMUP 75 s of warm-up, SNOOP_SOAK_SECONDS 30 s
 * measured): mixed load through a snoop child process, then RSS and open descriptors back
 * within 10% of the warmed-up baseline. The full run is `deno task soak` (10 minutes).
 */
Deno.test({
  name: "soak (short): mixed load, then RSS and open fds back within 10% of the baseline",
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
    ], { timeoutMs: (Number(seconds) + Number(warmup) + 90) * 1000 });
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
    assert.ok(summary.fdRatio <= 1.1, `fds ${summary.baseline.fds} -> ${summary.after.fds}`);
    assert.ok(
      summary.rssRatio <= 1.1,
      `RSS ${summary.baseline.rssKiB} -> ${summary.after.rssKiB} KiB`,
    );
    assert.equal(r.code, 0, r.stderr);
  },
});
