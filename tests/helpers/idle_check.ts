/**
 * For the tests of the idle collection (src/util/idle_collection.ts) in a child process: the
 * child started with its log kept, its CPU time from /proc, a burst of work until it has used
 * enough, and the collection's log line.
 */

/** utime + stime of `pid` in ms (the kernel counts in 10 ms ticks). */
export function cpuMs(pid: number): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/**
 * Runs `step` from 8 loops until `pid` has used `wantMs` more CPU, or 30 s passed; returns the
 * CPU it used meanwhile.
 */
export async function keepBusy(
  pid: number,
  wantMs: number,
  step: () => Promise<void>,
): Promise<number> {
  const from = cpuMs(pid);
  const deadline = Date.now() + 30_000;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (cpuMs(pid) - from < wantMs && Date.now() < deadline) await step();
  }));
  return cpuMs(pid) - from;
}

const COLLECTION_LOG =
  /idle: full garbage collection rssBeforeMiB=(\d+) rssAfterMiB=(\d+) tookMs=(\d+) trimmed=(true|false)/g;

/** The collections a debug log reports. */
export function collections(
  log: string,
): { rssBeforeMiB: number; rssAfterMiB: number; trimmed: boolean }[] {
  return [...log.matchAll(COLLECTION_LOG)].map((m) => ({
    rssBeforeMiB: Number(m[1]),
    rssAfterMiB: Number(m[2]),
    trimmed: m[4] === "true",
  }));
}

/** A child process whose stderr (snoop's log) is kept whole, and a stop that waits for it. */
export function spawnLogged(args: string[]): {
  child: Deno.ChildProcess;
  log(): string;
  stop(): Promise<void>;
} {
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" })
    .spawn();
  let log = "";
  const logging = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (t) => void (log += t) }),
  );
  return {
    child,
    log: () => log,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
      await logging.catch(() => {});
    },
  };
}
