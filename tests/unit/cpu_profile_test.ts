import assert from "node:assert/strict";
import { profileDuring, summarizeProfile } from "../../scripts/lib/cpu_profile.ts";
import { connectDenoInspector } from "../../scripts/lib/cdp_session.ts";
import { freePort, waitForPort } from "../helpers/harness.ts";

Deno.test("cpu profile: a process's busy time and where it went, through its inspector", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-cpu-profile-" });
  // A child that spins a few milliseconds in pure arithmetic, then sleeps 5 ms, over and
  // over. (V8 inlines the spin into the loop, so the samples name the module's top level.)
  const program = `${dir}/spin_and_sleep.ts`;
  await Deno.writeTextFile(
    program,
    `function spin() { let x = 0; for (let i = 0; i < 3e6; i++) x = (x * 31 + i) | 0; return x; }
     for (;;) { spin(); await new Promise((r) => setTimeout(r, 5)); }`,
  );
  const inspectPort = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", `--inspect=127.0.0.1:${inspectPort}`, program],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitForPort(inspectPort);
    const inspector = await connectDenoInspector(inspectPort);
    try {
      const [profile, slept] = await profileDuring(
        inspector,
        () => new Promise<number>((resolve) => setTimeout(() => resolve(500), 500)),
      );
      assert.equal(slept, 500);
      const { busyUs, selfUs } = summarizeProfile(profile);
      assert.ok(!selfUs.has("(idle)"), "idle counted as busy");
      // Busy for a part of the 500 ms (the spin takes 2-10 ms here, the sleep 5), not all.
      assert.ok(busyUs > 50_000 && busyUs < 500_000, `busy ${busyUs} µs`);
      const [top, topUs] = [...selfUs].sort((a, b) => b[1] - a[1])[0];
      assert.match(top, /spin_and_sleep\.ts$/);
      assert.ok(topUs > busyUs * 0.8, `${top}: ${topUs} of ${busyUs} µs`);
    } finally {
      inspector.close();
    }
  } finally {
    child.kill();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});
