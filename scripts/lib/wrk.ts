import { output } from "./processes.ts";

export interface WrkResult {
  rps: number;
  requests: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  errors: number;
  socketErrors: string;
}

/**
 * How wrk loads: threads and keep-alive connections; `cpus` (taskset's list) binds it;
 * `pauseMs`: each connection waits that long before each request (the Lua `delay` hook), so
 * 50 connections offer at most 50 / (pause + latency) requests per second, the same for
 * every proxy that keeps up, instead of as many as the machine can serve.
 */
export interface WrkLoad {
  threads?: number;
  connections?: number;
  cpus?: string;
  pauseMs?: number;
  /**
   * Requests per second the whole load offers, on a fixed schedule: each thread hands out
   * send times `threads / rate` apart (LuaJIT's ffi reads CLOCK_MONOTONIC in the `delay`
   * hook) and a connection waits for its slot; behind schedule, slots are taken at once, up
   * to the connections' count in flight.
   */
  rate?: number;
}

/**
 * wrk for `seconds` (2 threads and 50 keep-alive connections unless `load` says otherwise),
 * GETs of `url` directly or, with `proxyPort`, as absolute-URI requests to that proxy (a
 * Lua script written into `dir`).
 */
export async function wrk(
  url: string,
  seconds: number,
  dir: string,
  proxyPort?: number,
  load: WrkLoad = {},
): Promise<WrkResult> {
  const { threads = 2, connections = 50, cpus, pauseMs, rate } = load;
  // One script per target: wrk runs may overlap (`bench recording --together`).
  const script = `${dir}/abs-${proxyPort ?? "direct"}.lua`;
  await Deno.writeTextFile(
    script,
    `wrk.path = "${proxyPort ? url : new URL(url).pathname}"\n` +
      `wrk.headers["Host"] = "${new URL(url).host}"\n` +
      (pauseMs ? `function delay() return ${pauseMs} end\n` : "") +
      (rate ? pacedDelay(threads * 1000 / rate) : ""),
  );
  const target = proxyPort ? `http://127.0.0.1:${proxyPort}` : new URL(url).origin;
  const out = await output(cpus ? "taskset" : "wrk", [
    ...(cpus ? ["-c", cpus, "wrk"] : []),
    `-t${threads}`,
    `-c${connections}`,
    `-d${seconds}s`,
    "--latency",
    ...(proxyPort || pauseMs || rate ? ["-s", script] : []),
    proxyPort ? target : url,
  ]);
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const ms = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) return NaN;
    const unit = m[2];
    return Number(m[1]) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : 1);
  };
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    p50: ms(/50%\s+([\d.]+)(us|ms|s)/),
    p99: ms(/99%\s+([\d.]+)(us|ms|s)/),
    errors: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
    socketErrors: /Socket errors/.test(out) ? out.match(/Socket errors:.*/)![0] : "",
  };
}

/** wrk's `delay` hook: the milliseconds until this thread's next send slot (`intervalMs` apart). */
function pacedDelay(intervalMs: number): string {
  return `local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } paced_timespec;
int clock_gettime(int clk, paced_timespec *tp);
]]
local ts = ffi.new("paced_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local next_slot = nil
function delay()
  local now = now_ms()
  if next_slot == nil then next_slot = now end
  local slot = next_slot
  next_slot = next_slot + ${intervalMs}
  if slot <= now then return 0 end
  return math.floor(slot - now)
end
`;
}
