/**
 * Memory given back when the process goes quiet after work: one full garbage collection,
 * then glibc's `malloc_trim`.
 *
 * Why: after a burst of load a proxy is often left idle with its RSS where the burst put it.
 * V8's own heap shrinks back by itself (its memory reducer); what stays is glibc's heap.
 * Each connection's read buffers (ArrayBuffer backing stores) come from malloc; once they are
 * freed, chunks still in use above them keep glibc from shrinking its heap by itself.
 * `malloc_trim(0)` returns the free pages anywhere in it. The collection has to come first
 * (it is what frees the buffers). Both block the event loop while they run, longer the more
 * connections the burst left behind, which is why they wait for quiet.
 *
 * Quiet is measured, not guessed from connection counts (keep-alive load opens no new ones):
 * the process used under 1% of a core over `quietMs`. Work is CPU time: at least `workCpuMs`
 * since the last collection, so an idle process never collects again and a trickle of
 * requests collects seldom.
 */
import process from "node:process";
import v8 from "node:v8";
import vm from "node:vm";
import type { Logger } from "./log.ts";

export interface IdleCollectionOptions {
  /** How long the process must stay quiet before the collection (default 10 s). */
  quietMs?: number;
  /** How often CPU time is sampled (default 5 s); quiet is judged per sample. */
  checkMs?: number;
  /** CPU time since the last collection that makes another worth it (default 200 ms). */
  workCpuMs?: number;
}

/**
 * The decision alone, fed CPU time samples (µs, cumulative): collect once the last
 * `quietMs` of samples were quiet and enough work happened since the last collection.
 */
export class IdlePolicy {
  readonly #quietChecks: number;
  readonly #quietCpuUs: number;
  readonly #workCpuUs: number;
  #lastCpuUs: number | undefined;
  #quietFor = 0;
  #workSinceCollection = 0;

  constructor(opts: IdleCollectionOptions = {}) {
    const checkMs = opts.checkMs ?? 5_000;
    this.#quietChecks = Math.max(1, Math.ceil((opts.quietMs ?? 10_000) / checkMs));
    // Under 1% of one core over a check counts as quiet.
    this.#quietCpuUs = checkMs * 10;
    this.#workCpuUs = (opts.workCpuMs ?? 200) * 1000;
  }

  /** Takes the process's cumulative CPU time; true when a collection is due now. */
  sample(cpuUs: number): boolean {
    const used = this.#lastCpuUs === undefined ? 0 : cpuUs - this.#lastCpuUs;
    this.#lastCpuUs = cpuUs;
    this.#workSinceCollection += used;
    this.#quietFor = used < this.#quietCpuUs ? this.#quietFor + 1 : 0;
    if (this.#quietFor < this.#quietChecks || this.#workSinceCollection < this.#workCpuUs) {
      return false;
    }
    this.#workSinceCollection = 0;
    return true;
  }

  /**
   * Takes the CPU time after the collection ran: its own CPU time (hundreds of ms for a large
   * heap) is not work that calls for another one.
   */
  collected(cpuUs: number): void {
    this.#lastCpuUs = cpuUs;
  }
}

/**
 * V8's full collection, or null where the runtime does not give it. `--expose-gc` set at run
 * time applies to contexts created after it, so a fresh `vm` context carries the `gc` global.
 */
export function exposeGc(): (() => void) | null {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    return typeof gc === "function" ? gc : null;
  } catch {
    return null;
  }
}

/**
 * glibc's `malloc_trim(0)` through FFI, or null where it cannot run: not Linux, no FFI
 * permission (it is never prompted for), or a libc that is not glibc (musl has no
 * `libc.so.6`).
 */
export function mallocTrimmer(): (() => void) | null {
  if (Deno.build.os !== "linux") return null;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    return () => void libc.symbols.malloc_trim(0n);
  } catch {
    return null;
  }
}

export interface IdleCollection {
  /** Collections run so far. */
  readonly collections: number;
  stop(): void;
}

/**
 * Samples the process's CPU time every `checkMs` and, when the policy says so, runs a full
 * collection and the trim. `onCollect` hears each one (RSS before and after, how long, whether it trimmed).
 */
export function startIdleCollection(
  opts: IdleCollectionOptions = {},
  onCollect?: (
    info: { rssBeforeMiB: number; rssAfterMiB: number; tookMs: number; trimmed: boolean },
  ) => void,
): IdleCollection {
  const policy = new IdlePolicy(opts);
  let gc: (() => void) | null | undefined;
  let trim: (() => void) | null = null;
  let collections = 0;
  const cpuUs = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  policy.sample(cpuUs());
  const timer = setInterval(() => {
    if (!policy.sample(cpuUs())) return;
    // Set up on first use: a process that never idles after work never changes V8's flags.
    if (gc === undefined) {
      gc = exposeGc();
      trim = mallocTrimmer();
    }
    if (!gc) return clearInterval(timer);
    const rssBefore = process.memoryUsage.rss();
    const started = performance.now();
    gc();
    trim?.();
    policy.collected(cpuUs());
    collections++;
    onCollect?.({
      rssBeforeMiB: rssBefore / 2 ** 20,
      rssAfterMiB: process.memoryUsage.rss() / 2 ** 20,
      tookMs: performance.now() - started,
      trimmed: trim !== null,
    });
  }, opts.checkMs ?? 5_000);
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}

/** The debug log's message for each collection (the soak script waits for it). */
export const IDLE_COLLECTION_MESSAGE = "idle: full garbage collection";

/** `startIdleCollection` for a long-running command: each collection goes to the debug log. */
export function startLoggedIdleCollection(log: Logger): IdleCollection {
  return startIdleCollection({}, (c) =>
    log.debug(IDLE_COLLECTION_MESSAGE, {
      rssBeforeMiB: Math.round(c.rssBeforeMiB),
      rssAfterMiB: Math.round(c.rssAfterMiB),
      tookMs: Math.round(c.tookMs),
      trimmed: c.trimmed,
    }));
}
