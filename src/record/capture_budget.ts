/** The budget when the configuration sets none (`limits.captureBudget`). */
export const DEFAULT_CAPTURE_BUDGET = 64 * 1024 * 1024;

/**
 * The bytes of captured traffic the process holds at once: bodies and WebSocket payloads
 * being captured (`BodyCapture`), and records waiting in recorder queues or being delivered
 * (their JSON text, counted by its length). Every body is hostile and up to
 * `http.maxBodySize`, and any number of them arrive at once, so counting them per body or
 * per queue does not bound the sum: this does. Past the budget a capture keeps no more
 * bytes and a record goes without its bodies, which it says (`bodyTruncated`); the proxied
 * bytes are never touched. One budget per process, set by `App.build`.
 */
export class CaptureBudget {
  #used = 0;

  constructor(public limit = DEFAULT_CAPTURE_BUDGET) {}

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** Takes up to `n` bytes and returns how many it got (0 once the budget is spent). */
  reserve(n: number): number {
    const granted = Math.max(0, Math.min(n, this.limit - this.#used));
    this.#used += granted;
    return granted;
  }

  /** Takes `n` bytes if all of them fit. */
  tryReserve(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }

  /**
   * Takes `n` bytes even past the limit: for what is in memory already and small (a record
   * whose bodies were left out), which dropping would lose for no saving.
   */
  force(n: number): void {
    this.#used += n;
  }

  release(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }

  /**
   * Bytes of bodies made into record text (`BodyCapture.base64`) and not yet claimed by the
   * queue that takes the record. A record is made and queued in one synchronous run
   * (`RecordSink.emit`), so what is pending when a queue takes a record is that record's.
   */
  get pending(): number {
    return this.#pending;
  }
  #pending = 0;

  /** Moves bytes a capture holds to the record being made (still counted as used). */
  handOver(n: number): void {
    this.#pending += n;
  }

  /** Takes what is pending, for the record being queued. */
  claimPending(): number {
    const n = this.#pending;
    this.#pending = 0;
    return n;
  }

  /** Gives back what no queue claimed (the record was dropped, or had no recorder). */
  releasePending(): void {
    this.release(this.claimPending());
  }
}

/** The process's budget. */
export const captureBudget = new CaptureBudget();
