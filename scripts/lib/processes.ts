/**
 * Child processes for benchmarks: started with a high descriptor limit, measured from /proc
 * (CPU time and RSS of the whole process tree: squid and nginx fork workers), and stopped.
 */

export interface Proc {
  pid: number;
  stop(): Promise<void>;
  /** The last lines it wrote to stderr (for an error message). */
  log(): string;
}

/**
 * Runs `cmd` with RLIMIT_NOFILE raised (10,000 idle tunnels need 20,000 descriptors). Its
 * stdout goes to `stdoutFile` when given (V8's `--trace-gc` writes there), else nowhere.
 */
export function spawn(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  stdoutFile = "/dev/null",
): Proc {
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      'ulimit -n 65536 2>/dev/null || ulimit -n 20000; out="$1"; shift; exec "$@" > "$out"',
      "_",
      stdoutFile,
      cmd,
      ...args,
    ],
    stdout: "null",
    stderr: "piped",
    env,
  }).spawn();
  let tail = "";
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (t) => void (tail = (tail + t).slice(-4000)) }),
  ).catch(() => {});
  return {
    pid: child.pid,
    log: () => tail,
    async stop() {
      // The root first: nginx's master starts a new worker when one dies, so killing the
      // workers first left that new one running after the master was gone (found orphaned
      // after a `compare --sections b`). The tree is listed before: orphans leave it.
      const tree = descendants(child.pid);
      for (const pid of [child.pid, ...tree]) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await child.status;
      await reading;
    },
  };
}

function statFields(pid: number): string[] | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // comm may contain spaces; fields after the closing parenthesis are space-separated.
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** Every live process below `root`. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const f = statFields(Number(e.name));
    if (f) parent.set(Number(e.name), Number(f[1]));
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [pid, pp] of parent) {
      if (pp === p) {
        out.push(pid);
        walk(pid);
      }
    }
  };
  walk(root);
  return out;
}

const TICKS = 100; // USER_HZ on Linux

/**
 * CPU seconds (user + system) of one process by thread name (`comm`: a Deno process's main
 * thread is `deno`, a Worker `worker-N`, V8's helper threads `V8 DefaultWorke`); threads that
 * ended are not counted.
 */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = [...Deno.readDirSync(`/proc/${pid}/task`)].map((e) => e.name);
  } catch {
    return byName;
  }
  for (const tid of tids) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      byName.set(name, (byName.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / TICKS);
    } catch {
      // the thread ended
    }
  }
  return byName;
}

/** CPU seconds (user + system) of a process and everything below it. */
export function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of [root, ...descendants(root)]) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return ticks / TICKS;
}

/**
 * Resident memory (MiB) of a process and everything below it: all of it (`VmRSS`), only
 * the anonymous part (`RssAnon`: heaps, stacks), or only the file-backed part (`RssFile`: the
 * executable's and libraries' pages, clean copies of files the kernel can drop and read again).
 */
export function rssMiB(
  root: number,
  part: "VmRSS" | "RssAnon" | "RssFile" = "VmRSS",
): number {
  const field = new RegExp(`${part}:\\s+(\\d+)`);
  let kib = 0;
  for (const pid of [root, ...descendants(root)]) {
    try {
      const m = field.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
      if (m) kib += Number(m[1]);
    } catch { /* gone */ }
  }
  return kib / 1024;
}

/**
 * Binds a process, its threads and everything below it to `cpus` (taskset's list, "0" or
 * "0-1"); children it starts later inherit it.
 */
export async function setAffinity(proc: Proc, cpus: string): Promise<void> {
  for (const pid of [proc.pid, ...descendants(proc.pid)]) {
    await output("taskset", ["-a", "-p", "-c", cpus, String(pid)]).catch(() => {}); // gone
  }
}

/** Waits until something listens on `port`; `log` says why not (a child's stderr). */
export async function waitForPort(port: number, log?: () => string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (Date.now() > deadline) {
        throw new Error(`nothing listens on ${port}${log ? `:\n${log()}` : ""}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Ports this process has handed out: a random pick can repeat one. (Probing with port 0, as
 * before, repeated too: a port is free once its probe closes and the kernel gave it out again,
 * so the soak script once got one number for a service and the inspector, six calls apart.)
 */
const handedOut = new Set<number>();

/** Where `freePort` picks: from here up to the kernel's ephemeral range. */
const LOWEST_PICK = 10_000;

/**
 * The first port of the kernel's ephemeral range (Linux's default 32768 when it cannot be
 * read). Outgoing connections and `port: 0` listeners take their ports from that range.
 */
function ephemeralLow(): number {
  const path = "/proc/sys/net/ipv4/ip_local_port_range";
  // Queried first: reading without the permission would prompt on a terminal.
  if (Deno.permissions.querySync({ name: "read", path }).state === "granted") {
    try {
      const low = Number(Deno.readTextFileSync(path).trim().split(/\s+/)[0]);
      if (low > LOWEST_PICK + 1000) return low;
    } catch { /* not Linux */ }
  }
  return 32768;
}

let pickBelow: number | undefined;

/**
 * A port nothing listens on right now, below the ephemeral range, and not one this process
 * handed out before. Below that range no outgoing connection or `port: 0` listener (of this
 * process or any other) can take it between the pick and the bind, and ports taken one after
 * another for the same run never collide.
 */
export function freePort(): number {
  pickBelow ??= ephemeralLow();
  for (;;) {
    const port = LOWEST_PICK + Math.floor(Math.random() * (pickBelow - LOWEST_PICK));
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      continue; // in use
    }
    handedOut.add(port);
    return port;
  }
}

export async function output(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** A script of scripts/lib as a child, listening on a free port (its first argument). */
async function startLibScript(
  file: string,
  ...args: string[]
): Promise<{ port: number; proc: Proc }> {
  const port = freePort();
  const proc = spawn(Deno.execPath(), [
    "run",
    "--allow-net",
    new URL(`./${file}`, import.meta.url).pathname,
    String(port),
    ...args,
  ]);
  await waitForPort(port, proc.log);
  return { port, proc };
}

/** scripts/lib/tcp_holder.ts as a child: the far end of idle tunnels, on its own port. */
export const startTcpHolder = () => startLibScript("tcp_holder.ts");

/** scripts/lib/floor_relay.ts as a child, its reads growing up to `largestRead` bytes. */
export const startFloorRelay = (largestRead = 1) =>
  startLibScript("floor_relay.ts", String(largestRead));

/** Peak RSS (process tree) of each pid, sampled every 200 ms while `work` runs. */
export async function withPeakRss<T>(pids: number[], work: Promise<T>): Promise<[T, number[]]> {
  const peaks = pids.map((p) => rssMiB(p));
  let done = false;
  const sampling = (async () => {
    while (!done) {
      pids.forEach((p, i) => peaks[i] = Math.max(peaks[i], rssMiB(p)));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  try {
    return [await work, peaks];
  } finally {
    done = true;
    await sampling;
  }
}

/** The machine a benchmark ran on: CPUs, their model, Deno's version. */
export function machine(): string {
  const cpus = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  return `${navigator.hardwareConcurrency} × ${cpus}, Deno ${Deno.version.deno}`;
}
