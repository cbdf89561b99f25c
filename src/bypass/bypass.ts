import { ConfigError } from "../config/config_error.ts";
import type { BypassConfig } from "../config/types.ts";
import { addressForMatch, compileMatcher, type Matcher } from "./matcher.ts";

/**
 * A named set of patterns that decides whether an address is bypassed (as GOST's bypass):
 * a blacklist bypasses what matches, a whitelist bypasses what does not. What "bypassed"
 * means depends on where it is used: a service refuses the request, `mitm.bypass` leaves
 * the host un-intercepted. A whitelist with no patterns bypasses nothing (GOST HEAD).
 */
export class Bypass {
  constructor(
    readonly name: string,
    readonly whitelist: boolean,
    readonly matchers: Matcher[],
  ) {}

  static fromConfig(config: BypassConfig): Bypass {
    const matchers = config.matchers.map((p, i) => {
      try {
        return compileMatcher(p);
      } catch (e) {
        throw new ConfigError(
          { ...config.where, path: `${config.where.path}.matchers[${i}]` },
          (e as Error).message,
        );
      }
    });
    return new Bypass(config.name, config.whitelist, matchers);
  }

  /** The pattern an address matches, if any. */
  match(addr: string): Matcher | undefined {
    const { host, port } = addressForMatch(addr);
    return this.matchers.find((m) => m.matches(host, port));
  }

  /** True when `addr` (`host`, `host:port`, `[v6]:port`) is bypassed. */
  contains(addr: string): boolean {
    if (this.matchers.length === 0) return false;
    const matched = this.match(addr) !== undefined;
    return this.whitelist ? !matched : matched;
  }
}
