import assert from "node:assert/strict";
import { exposeGc, IdlePolicy, mallocTrimmer } from "../../src/util/idle_collection.ts";

/** Feeds the policy CPU time used per check (ms) and returns the checks that collected. */
function collectedAt(policy: IdlePolicy, usedMsPerCheck: number[]): number[] {
  let cpuUs = 0;
  policy.sample(cpuUs);
  const at: number[] = [];
  usedMsPerCheck.forEach((ms, i) => {
    cpuUs += ms * 1000;
    if (policy.sample(cpuUs)) at.push(i);
  });
  return at;
}

Deno.test("idle policy: one collection after a burst, once two checks were quiet", () => {
  // 5 s checks: quiet is under 50 ms of CPU per check; 10 s quiet is two checks.
  const policy = new IdlePolicy({ checkMs: 5_000, quietMs: 10_000, workCpuMs: 200 });
  const burst = [900, 1200, 800];
  const quiet = [3, 2, 4, 1, 2, 3];
  assert.deepEqual(collectedAt(policy, [...burst, ...quiet]), [4]);
});

Deno.test("idle policy: no collection while busy, nor for an idle process", () => {
  const busy = new IdlePolicy({ checkMs: 5_000, quietMs: 10_000, workCpuMs: 200 });
  assert.deepEqual(collectedAt(busy, [400, 60, 300, 70, 55, 900]), []);
  const idle = new IdlePolicy({ checkMs: 5_000, quietMs: 10_000, workCpuMs: 200 });
  assert.deepEqual(collectedAt(idle, Array(50).fill(1)), []);
});

Deno.test("idle policy: a trickle of light work collects only once it adds up", () => {
  // 20 ms per check is quiet; 200 ms of it accumulates over ten checks.
  const policy = new IdlePolicy({ checkMs: 5_000, quietMs: 10_000, workCpuMs: 200 });
  assert.deepEqual(collectedAt(policy, Array(25).fill(20)), [9, 19]);
});

Deno.test("idle policy: the collection's own CPU time does not call for another", () => {
  const policy = new IdlePolicy({ checkMs: 5_000, quietMs: 10_000, workCpuMs: 200 });
  let cpuUs = 0;
  policy.sample(cpuUs);
  const due: number[] = [];
  for (const [i, usedMs] of [900, 0, 0, 0, 0, 0, 0, 0].entries()) {
    cpuUs += usedMs * 1000;
    if (policy.sample(cpuUs)) {
      due.push(i);
      cpuUs += 300_000; // a 300 ms collection of a large heap
      policy.collected(cpuUs);
    }
  }
  assert.deepEqual(due, [2]);
});

Deno.test("idle policy: a second burst after a collection earns a second one", () => {
  const policy = new IdlePolicy({ checkMs: 5_000, quietMs: 10_000, workCpuMs: 200 });
  assert.deepEqual(collectedAt(policy, [500, 0, 0, 0, 0, 700, 0, 0, 0]), [2, 7]);
});

Deno.test("exposeGc gives V8's full collection: unreachable objects are freed", () => {
  const gc = exposeGc();
  assert.ok(gc, "the runtime gave no gc function");
  gc();
  const floor = Deno.memoryUsage().heapUsed;
  let garbage: { i: number; s: string }[] | null = [];
  for (let i = 0; i < 300_000; i++) garbage.push({ i, s: `item ${i}` });
  const grown = Deno.memoryUsage().heapUsed;
  assert.ok(grown - floor > 10 * 2 ** 20, `the garbage took only ${grown - floor} bytes`);
  garbage = null;
  gc();
  const after = Deno.memoryUsage().heapUsed;
  assert.ok(
    after - floor < (grown - floor) / 4,
    `heap ${floor} -> ${grown} -> ${after} after gc`,
  );
});

Deno.test({
  name: "mallocTrimmer returns the free pages of glibc's heap that a full collection left",
  ignore: Deno.build.os !== "linux",
  fn() {
    const gc = exposeGc()!;
    const trim = mallocTrimmer();
    assert.ok(trim, "no malloc_trim here (glibc Linux with FFI allowed)");
    gc();
    trim();
    const floor = Deno.memoryUsage().rss;
    // 64 MiB of 4 KiB ArrayBuffers (their backing stores come from malloc, as a connection's
    // read buffers do), with a small one allocated after them that stays alive: glibc cannot
    // shrink its heap past it by itself.
    let buffers: ArrayBuffer[] | null = Array.from({ length: 16_384 }, () => new ArrayBuffer(4096));
    for (const b of buffers) new Uint8Array(b).fill(1);
    const pin = new ArrayBuffer(64);
    buffers = null;
    gc();
    const collected = Deno.memoryUsage().rss;
    trim();
    const trimmed = Deno.memoryUsage().rss;
    const MiB = 2 ** 20;
    assert.ok(
      collected - trimmed > 32 * MiB,
      `RSS ${floor / MiB} -> ${collected / MiB} after gc -> ${trimmed / MiB} MiB after the trim`,
    );
    assert.equal(pin.byteLength, 64);
  },
});
