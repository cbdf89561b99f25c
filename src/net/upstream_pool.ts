/**
 * Idle upstream connections of the forward proxy, by `host:port`, so keep-alive clients
 * (and different clients to the same origin) reuse them. Bounded per host and in time.
 * `T` is the connection with whatever goes with it (the HTTP handler keeps its reader).
 */
export class UpstreamPool<T extends { close(): void }> {
  readonly #idle = new Map<string, { conn: T; since: number }[]>();
  #sweeper: ReturnType<typeof setInterval> | undefined;

  /**
   * `maxPerHost` is 128: with a small pool, many keep-alive clients of one origin kept
   * closing and redialling upstream connections, and connect + close became a visible share
   * of the proxy's CPU under load.
   */
  constructor(readonly maxPerHost = 128, readonly idleMs = 30_000) {}

  take(key: string): T | undefined {
    const list = this.#idle.get(key);
    const entry = list?.pop();
    if (list && list.length === 0) this.#idle.delete(key);
    return entry?.conn;
  }

  put(key: string, conn: T): void {
    let list = this.#idle.get(key);
    if (!list) this.#idle.set(key, list = []);
    if (list.length >= this.maxPerHost) {
      conn.close();
      return;
    }
    list.push({ conn, since: Date.now() });
    this.#sweeper ??= setInterval(() => this.#sweep(), Math.max(1000, this.idleMs / 2));
  }

  #sweep() {
    const cutoff = Date.now() - this.idleMs;
    for (const [key, list] of this.#idle) {
      const keep = list.filter((e) => {
        if (e.since >= cutoff) return true;
        e.conn.close();
        return false;
      });
      if (keep.length) this.#idle.set(key, keep);
      else this.#idle.delete(key);
    }
    if (this.#idle.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  get size(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  close(): void {
    for (const list of this.#idle.values()) for (const e of list) e.conn.close();
    this.#idle.clear();
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
