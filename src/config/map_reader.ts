import { ConfigError, type Where } from "./config_error.ts";
import { Metadata } from "./metadata.ts";
import type { SourceTree } from "./source_tree.ts";

/**
 * Reads one map of a configuration document against the keys it may have. Keys match
 * case-insensitively (GOST's loader does too); an unknown key is an error at its position,
 * and a GOST key snoop does not implement says "not supported".
 */
export class MapReader {
  readonly #byLower = new Map<string, string>();

  constructor(
    readonly tree: SourceTree,
    readonly path: string,
    readonly value: Record<string, unknown>,
    known: readonly string[],
    unsupported: readonly string[] = [],
  ) {
    const knownLower = new Map(known.map((k) => [k.toLowerCase(), k]));
    const unsupportedLower = new Set(unsupported.map((k) => k.toLowerCase()));
    for (const key of Object.keys(value)) {
      const lower = key.toLowerCase();
      const childPath = this.childPath(key);
      if (unsupportedLower.has(lower)) {
        throw new ConfigError(tree.where(childPath), `"${key}" is not supported by snoop`);
      }
      const canonical = knownLower.get(lower);
      if (!canonical) {
        const hint = suggest(key, known);
        throw new ConfigError(
          tree.where(childPath),
          `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ""}`,
        );
      }
      if (this.#byLower.has(lower)) {
        throw new ConfigError(tree.where(childPath), `duplicate key "${key}"`);
      }
      this.#byLower.set(lower, key);
    }
  }

  /** Opens the map at `path`, or fails with "expected a map". */
  static open(
    tree: SourceTree,
    path: string,
    value: unknown,
    known: readonly string[],
    unsupported: readonly string[] = [],
  ): MapReader {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new ConfigError(tree.where(path), `expected a map, got ${describe(value)}`);
    }
    return new MapReader(tree, path, value as Record<string, unknown>, known, unsupported);
  }

  childPath(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** The key as the user spelt it (for paths), or the canonical one. */
  #spelt(key: string): string {
    return this.#byLower.get(key.toLowerCase()) ?? key;
  }

  has(key: string): boolean {
    return this.#byLower.has(key.toLowerCase());
  }

  raw(key: string): unknown {
    return this.value[this.#spelt(key)];
  }

  pathOf(key: string): string {
    return this.childPath(this.#spelt(key));
  }

  whereOf(key: string): Where {
    return this.tree.where(this.pathOf(key));
  }

  get where(): Where {
    return this.tree.where(this.path);
  }

  string(key: string, opts: { required?: boolean; fallback?: string } = {}): string {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (opts.required) throw new ConfigError(this.where, `missing required key "${key}"`);
      return opts.fallback ?? "";
    }
    if (typeof v === "string") return v;
    if (typeof v === "number") return String(v);
    throw new ConfigError(this.whereOf(key), `expected a string, got ${describe(v)}`);
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v === "boolean") return v;
    throw new ConfigError(this.whereOf(key), `expected true or false, got ${describe(v)}`);
  }

  number(key: string, fallback: number): number {
    const v = this.raw(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v === "number" && Number.isFinite(v)) return v;
    throw new ConfigError(this.whereOf(key), `expected a number, got ${describe(v)}`);
  }

  list(key: string): { value: unknown; path: string }[] {
    const v = this.raw(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      throw new ConfigError(this.whereOf(key), `expected a list, got ${describe(v)}`);
    }
    return v.map((value, i) => ({ value, path: `${this.pathOf(key)}[${i}]` }));
  }

  map(key: string, known: readonly string[], unsupported: readonly string[] = []): MapReader {
    return MapReader.open(this.tree, this.pathOf(key), this.raw(key), known, unsupported);
  }

  /** A `metadata:` map: open-ended keys, checked later by the component that reads them. */
  metadata(key: string): Metadata {
    const path = this.pathOf(key);
    return Metadata.fromObject(
      this.raw(key),
      this.tree.where(path),
      (k) => this.tree.where(`${path}.${k}`),
    );
  }

  /** A map of strings (HTTP headers and the like). */
  stringMap(key: string): Record<string, string> {
    const v = this.raw(key);
    if (v === undefined || v === null) return {};
    if (typeof v !== "object" || Array.isArray(v)) {
      throw new ConfigError(this.whereOf(key), `expected a map, got ${describe(v)}`);
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== "string" && typeof val !== "number") {
        throw new ConfigError(
          this.tree.where(`${this.pathOf(key)}.${k}`),
          `expected a string, got ${describe(val)}`,
        );
      }
      out[k] = String(val);
    }
    return out;
  }
}

export function describe(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  return JSON.stringify(v);
}

/** The closest known key within two edits, for "did you mean". */
function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined, bestDist = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDist) [best, bestDist] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
