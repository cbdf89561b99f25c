/** Where a configuration value came from: a file position, or a command-line flag. */
export interface Where {
  /** File path, or `-L` / `-C` for values from the command line. */
  source: string;
  /** 1-based line and column, when the source is a file. */
  line?: number;
  col?: number;
  /** Key path such as `services[0].handler.metadata.sniffing.timeout`. */
  path: string;
}

/** A configuration problem, reported once at start-up with where it is and what was expected. */
export class ConfigError extends Error {
  constructor(readonly where: Where, readonly problem: string) {
    super(`${formatWhere(where)}: ${problem}`);
    this.name = "ConfigError";
  }
}

export function formatWhere(w: Where): string {
  const pos = w.line ? `${w.source}:${w.line}:${w.col}` : w.source;
  return w.path ? `${pos}: ${w.path}` : pos;
}
