/**
 * snoop as a child process (`deno run -A mod.ts -C cfg.yaml`), for tests that measure its
 * memory: the RSS read from /proc is then snoop's own, not the test runner's.
 */
import { waitForPort } from "./harness.ts";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;

export interface SnoopProcess {
  pid: number;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRss(): number;
  /** Resident set size now (VmRSS), in bytes. */
  rss(): number;
  /** The last of what it wrote to stderr. */
  log(): string;
  stop(): Promise<void>;
}

function statusBytes(pid: number, field: string): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Starts snoop with `yaml` (written to `dir`) and waits until every port in `ports` listens. */
export async function startSnoopProcess(
  dir: string,
  yaml: string,
  ports: number[],
): Promise<SnoopProcess> {
  const cfg = `${dir}/snoop.yaml`;
  await Deno.writeTextFile(cfg, yaml);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "-C", cfg],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { SNOOP_HOME: dir },
  }).spawn();
  let tail = "";
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (t) => void (tail = (tail + t).slice(-8000)) }),
  ).catch(() => {});
  const proc: SnoopProcess = {
    pid: child.pid,
    peakRss: () => statusBytes(child.pid, "VmHWM"),
    rss: () => statusBytes(child.pid, "VmRSS"),
    log: () => tail,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await reading;
    },
  };
  try {
    for (const port of ports) await waitForPort(port, () => tail, 30_000);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return proc;
}
