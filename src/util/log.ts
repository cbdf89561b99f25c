/**
 * Leveled, human-readable logs on stderr: `2026-11-27T15:53:30.123Z INFO  [service-0] message k=v`.
 * Levels follow GOST's names so `-D` (debug) means the same thing to a GOST user.
 */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };
const encoder = new TextEncoder();

export class Logger {
  static level: LogLevel = "info";

  constructor(readonly scope = "") {}

  child(scope: string): Logger {
    return new Logger(this.scope ? `${this.scope}/${scope}` : scope);
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[Logger.level];
  }

  trace(msg: string, fields?: Record<string, unknown>) {
    this.#log("trace", msg, fields);
  }
  debug(msg: string, fields?: Record<string, unknown>) {
    this.#log("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>) {
    this.#log("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>) {
    this.#log("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>) {
    this.#log("error", msg, fields);
  }

  #log(level: LogLevel, msg: string, fields?: Record<string, unknown>) {
    if (!this.enabled(level)) return;
    let line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${
      this.scope ? `[${this.scope}] ` : ""
    }${msg}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        const s = typeof v === "string" ? v : v instanceof Error ? v.message : JSON.stringify(v);
        line += ` ${k}=${/[\s"=]/.test(s) ? JSON.stringify(s) : s}`;
      }
    }
    try {
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    } catch {
      // stderr closed: nothing better to do with a log line.
    }
  }
}

export const log = new Logger();
