import { Buffer } from "node:buffer";
import type { HttpMessageRecord } from "./record.ts";
import { captureBudget } from "./capture_budget.ts";

/**
 * Gives back the budget of a capture that was never turned into a record (an exchange cut
 * off before its record was made): its bytes are garbage by then.
 */
const unreleased = new FinalizationRegistry<{ held: number }>((h) => captureBudget.release(h.held));

/**
 * Counts every body byte and keeps the first `max` of them for the record, as far as the
 * process's capture budget allows: once the budget is spent the body is kept up to there and
 * the record says so (`bodyTruncated`). A kept byte is charged as the 4/3 of a byte that
 * its base64 takes in the record's text, which the record's queue then takes over.
 */
export class BodyCapture {
  total = 0;
  #parts: Uint8Array[] = [];
  #kept = 0;
  /** Budget bytes this capture holds, shared with the finalizer. */
  readonly #held = { held: 0 };
  #cut = false;
  #text: string | null | undefined;

  constructor(readonly keep: boolean, readonly max: number) {}

  add(data: Uint8Array): void {
    this.total += data.length;
    if (!this.keep || this.#cut || this.#kept >= this.max || data.length === 0) return;
    if (this.#text !== undefined) return; // already in a record
    const want = Math.min(data.length, this.max - this.#kept);
    // Whole groups of 3 bytes, each 4 characters of base64.
    const granted = captureBudget.reserve(Math.ceil(want / 3) * 4);
    const take = Math.min(want, Math.floor(granted / 4) * 3);
    captureBudget.release(granted - Math.ceil(take / 3) * 4);
    if (take < want) this.#cut = true;
    if (take === 0) return;
    if (this.#held.held === 0) unreleased.register(this, this.#held, this);
    this.#held.held += Math.ceil(take / 3) * 4;
    this.#parts.push(data.slice(0, take));
    this.#kept += take;
  }

  /** Whether the capture budget cut this body short. */
  get budgetCut(): boolean {
    return this.#cut;
  }

  get truncated(): boolean {
    return this.total > this.#kept;
  }

  /**
   * Standard base64 of what was kept, or null when nothing was (as GOST's nil `[]byte`).
   * The bytes leave the capture for the record, and their budget with them: the queue that
   * takes the record claims it (`CaptureBudget.handOver`).
   */
  base64(): string | null {
    if (this.#text === undefined) {
      this.#text = this.#kept === 0 ? null : Buffer.concat(this.#parts).toString("base64");
      this.#parts = [];
      captureBudget.handOver(this.#held.held);
      this.#held.held = 0;
      unreleased.unregister(this);
    }
    return this.#text;
  }

  /** Sets a record message's `contentLength`, `body` and, when cut, `bodyTruncated`. */
  fill<M extends HttpMessageRecord>(msg: M): M {
    msg.contentLength = this.total;
    msg.body = this.base64();
    if (this.#cut) msg.bodyTruncated = "capture-budget";
    return msg;
  }
}
