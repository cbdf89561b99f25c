/**
 * V8 CPU profiles of a running Deno process through its inspector (`--inspect`, a session from
 * `connectDenoInspector`): started and stopped around exactly the window being measured, so
 * start-up and shutdown stay out of the per-request figures. And a summary of a profile: busy
 * time per function.
 */
import type { CdpSession } from "./cdp_session.ts";

/** The parts of a CDP `Profiler.Profile` that the summary reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[];
  samples: number[];
  /** Microseconds from the previous sample (the profile's start for the first) to this one. */
  timeDeltas: number[];
}

/** Profiles the process while `during` runs (a sample every `intervalUs`). */
export async function profileDuring<T>(
  inspector: CdpSession,
  during: () => Promise<T>,
  intervalUs = 200,
): Promise<[CpuProfile, T]> {
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: intervalUs });
  await inspector.send("Profiler.start");
  const result = await during();
  const { profile } = await inspector.send("Profiler.stop", {}, 60_000) as { profile: CpuProfile };
  return [profile, result];
}

/** Busy time of a profile: in all, and by function (its own time, callees excluded). */
export interface BusySummary {
  /** Microseconds sampled outside `(idle)`. */
  busyUs: number;
  /**
   * Own time per function, `name folder/file`, in microseconds. A function V8 inlined into
   * its caller counts as the caller's: optimized code keeps no frame of its own.
   */
  selfUs: Map<string, number>;
}

export function summarizeProfile(profile: CpuProfile): BusySummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = nodes.get(profile.samples[i])!.callFrame;
    if (frame.functionName === "(idle)") continue;
    // A sample stands for the time until the next one (as DevTools counts it).
    const us = profile.timeDeltas[i + 1] ?? 0;
    busyUs += us;
    const file = frame.url.split("/").slice(-2).join("/");
    // No line number: it counts lines of the JavaScript that Deno made of the TypeScript.
    const name = `${frame.functionName || "(anonymous)"}${file ? ` ${file}` : ""}`;
    selfUs.set(name, (selfUs.get(name) ?? 0) + us);
  }
  return { busyUs, selfUs };
}
