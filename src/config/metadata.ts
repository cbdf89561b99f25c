import { ConfigError, type Where } from "./config_error.ts";

interface Entry {
  key: string;
  value: unknown;
  where: Where;
  /** From an unprefixed `-L` query parameter: handler, listener or service may claim it. */
  shared: boolean;
  read: boolean;
}

/**
 * GOST metadata keys snoop knows of but does not implement: naming them says "not
 * supported" instead of "unknown", so a GOST user knows the key is right but unavailable.
 */
const GOST_UNSUPPORTED = new Set(
  [
    "probeResistance",
    "knock",
    "hash",
    "compatibilityMode",
    "udpBufferSize",
    "backlog",
    "interface",
    "so_mark",
    "netns",
    "netns.out",
    "proxyProtocol",
    "keepalive",
    "ttl",
    "readBufferSize",
    "notls",
    "mptcp",
    "limiter.in",
    "limiter.out",
    "limiter.conn.in",
    "limiter.conn.out",
    "observer.period",
    "observer.resetTraffic",
    "sniffing.fallback",
    "sniffing.udp",
    "sniffing.dialOriginalDst",
    "sniffing.responseTimeout",
    "header",
    "hosts",
    "resolver",
    "admission",
    "retries",
    "strategy",
    "maxFails",
    "failTimeout",
  ].map((k) => k.toLowerCase()),
);

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration (`3s`, `500ms`, `1m30s`, `1.5h`) into milliseconds, or null. */
export function parseGoDuration(text: string): number | null {
  const s = text.trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0, pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return null;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    pos = re.lastIndex;
  }
  return pos > 0 ? total : null;
}

/**
 * Component options as GOST writes them: keys case-insensitive, values read leniently in
 * form (`true`, `"true"`, `1`; `3s` or `3` seconds) but strictly in meaning — a value that
 * cannot be read is a configuration error, never a silent `false` or `0`. Every key must be
 * read by some component; `unread()` lists the ones nobody asked for.
 */
export class Metadata {
  readonly #entries = new Map<string, Entry>();

  constructor(readonly where: Where) {}

  static fromObject(
    obj: unknown,
    where: Where,
    whereOf: (key: string) => Where,
  ): Metadata {
    const md = new Metadata(where);
    if (obj === null || obj === undefined) return md;
    if (typeof obj !== "object" || Array.isArray(obj)) {
      throw new ConfigError(where, "expected a map of options");
    }
    for (const [key, value] of Object.entries(obj)) md.set(key, value, whereOf(key));
    return md;
  }

  set(key: string, value: unknown, where: Where, shared = false): void {
    const lower = key.toLowerCase();
    if (this.#entries.has(lower) && !shared) {
      throw new ConfigError(where, `duplicate option "${key}" (option names ignore case)`);
    }
    this.#entries.set(lower, { key, value, where, shared, read: false });
  }

  #find(keys: string[]): Entry | undefined {
    for (const k of keys) {
      const e = this.#entries.get(k.toLowerCase());
      if (e) {
        e.read = true;
        return e;
      }
    }
    return undefined;
  }

  has(...keys: string[]): boolean {
    return keys.some((k) => this.#entries.has(k.toLowerCase()));
  }

  /** Marks keys as handled without reading them (an option read elsewhere). */
  claim(...keys: string[]): void {
    this.#find(keys);
  }

  bool(keys: string | string[], fallback: boolean): boolean {
    const e = this.#find(typeof keys === "string" ? [keys] : keys);
    if (!e || e.value === null) return fallback;
    const v = e.value;
    if (typeof v === "boolean") return v;
    if (typeof v === "number" && Number.isInteger(v)) return v !== 0;
    if (typeof v === "string") {
      if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
      if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
    }
    throw new ConfigError(e.where, `expected true or false, got ${JSON.stringify(v)}`);
  }

  /** A duration in milliseconds: an integer is seconds, a string is a Go duration. */
  duration(keys: string | string[], fallbackMs: number): number {
    const e = this.#find(typeof keys === "string" ? [keys] : keys);
    if (!e || e.value === null) return fallbackMs;
    const v = e.value;
    if (typeof v === "number" && v >= 0) return v * 1000;
    if (typeof v === "string") {
      if (/^\d+$/.test(v.trim())) return Number(v) * 1000;
      const ms = parseGoDuration(v);
      if (ms !== null) return ms;
    }
    throw new ConfigError(
      e.where,
      `expected a duration such as "3s", "500ms", "1m30s" or a number of seconds, got ${
        JSON.stringify(v)
      }`,
    );
  }

  number(keys: string | string[], fallback: number): number {
    const e = this.#find(typeof keys === "string" ? [keys] : keys);
    if (!e || e.value === null) return fallback;
    const v = e.value;
    const n = typeof v === "number"
      ? v
      : typeof v === "string" && v.trim() !== ""
      ? Number(v)
      : NaN;
    if (!Number.isFinite(n)) {
      throw new ConfigError(e.where, `expected a number, got ${JSON.stringify(v)}`);
    }
    return n;
  }

  integer(keys: string | string[], fallback: number, min = -Infinity, max = Infinity): number {
    const n = this.number(keys, fallback);
    const e = this.#find(typeof keys === "string" ? [keys] : keys);
    if (!Number.isInteger(n) || n < min || n > max) {
      const range = `${min === -Infinity ? "" : min}..${max === Infinity ? "" : max}`;
      throw new ConfigError(
        e?.where ?? this.where,
        `expected a whole number in ${range}, got ${n}`,
      );
    }
    return n;
  }

  string(keys: string | string[], fallback = ""): string {
    const e = this.#find(typeof keys === "string" ? [keys] : keys);
    if (!e || e.value === null) return fallback;
    if (typeof e.value === "string") return e.value;
    if (typeof e.value === "number" || typeof e.value === "boolean") return String(e.value);
    throw new ConfigError(e.where, `expected a string, got ${JSON.stringify(e.value)}`);
  }

  /** A list given as a YAML sequence or a comma-separated string. */
  stringList(keys: string | string[]): string[] {
    const e = this.#find(typeof keys === "string" ? [keys] : keys);
    if (!e || e.value === null) return [];
    if (Array.isArray(e.value)) return e.value.map(String);
    if (typeof e.value === "string") {
      return e.value.split(",").map((s) => s.trim()).filter(Boolean);
    }
    throw new ConfigError(e.where, `expected a list, got ${JSON.stringify(e.value)}`);
  }

  /** Where an option was given (or the metadata map itself). */
  whereOf(key: string): Where {
    return this.#entries.get(key.toLowerCase())?.where ?? this.where;
  }

  /** Options nobody read, as errors (shared ones are checked across components by the caller). */
  unread(): { key: string; where: Where; shared: boolean }[] {
    return [...this.#entries.values()].filter((e) => !e.read).map((e) => ({
      key: e.key,
      where: e.where,
      shared: e.shared,
    }));
  }

  /** Was this key read here (for shared `-L` options)? */
  wasRead(key: string): boolean {
    return this.#entries.get(key.toLowerCase())?.read ?? false;
  }

  toObject(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const e of this.#entries.values()) out[e.key] = e.value;
    return out;
  }
}

/** The error for an option no component reads. */
export function unknownOptionError(key: string, where: Where): ConfigError {
  return GOST_UNSUPPORTED.has(key.toLowerCase())
    ? new ConfigError(where, `option "${key}" is not supported by snoop`)
    : new ConfigError(where, `unknown option "${key}"`);
}

/** Throws for the first option that no component read. */
export function rejectUnread(...all: Metadata[]): void {
  for (const md of all) {
    for (const u of md.unread()) {
      if (u.shared && all.some((other) => other.wasRead(u.key))) continue;
      throw unknownOptionError(u.key, u.where);
    }
  }
}
