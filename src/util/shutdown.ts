/**
 * A service's shutdown, as the connections it serves wait for it: each open connection (and
 * each tunnel) registers what to do and unregisters it when it ends.
 *
 * Why not an AbortSignal's "abort" listeners: they are a list, and removing one scans it. With
 * thousands of tunnels open, every close scanned thousands, and closing many idle tunnels
 * spent much of its CPU in `removeEventListener`. A Set adds and removes in constant time.
 */
export class Shutdown {
  #callbacks = new Set<() => void>();
  #triggered = false;

  get triggered(): boolean {
    return this.#triggered;
  }

  /**
   * Calls `fn` at shutdown (at once if it already came); returns what unregisters it. Each
   * caller passes a closure of its own (one registered twice is registered once).
   */
  onShutdown(fn: () => void): () => void {
    if (this.#triggered) {
      fn();
      return () => {};
    }
    this.#callbacks.add(fn);
    return () => void this.#callbacks.delete(fn);
  }

  /**
   * Runs every registered callback once; one that throws does not stop the others. Returns
   * what they threw, for the caller to log.
   */
  trigger(): unknown[] {
    if (this.#triggered) return [];
    this.#triggered = true;
    const callbacks = [...this.#callbacks];
    this.#callbacks.clear();
    const errors: unknown[] = [];
    for (const callback of callbacks) {
      try {
        callback();
      } catch (e) {
        errors.push(e);
      }
    }
    return errors;
  }
}
