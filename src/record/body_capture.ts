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
 * process's capture budget allows: a body the budget cannot hold whole is left out of the
 * record (`budgetCut`), since a prefix would pass for one cut at `max`.
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
    const take = Math.min(data.length, this.max - this.#kept);
    if (!captureBudget.tryReserve(take)) return this.#giveUp();
    if (this.#held.held === 0) unreleased.register(this, this.#held, this);
    this.#held.held += take;
    this.#parts.push(data.slice(0, take));
    this.#kept += take;
  }

  /** Whether the capture budget left this body out of the record. */
  get budgetCut(): boolean {
    return this.#cut;
  }

  get truncated(): boolean {
    return this.total > this.#kept;
  }

  /**
   * Standard base64 of what was kept, or null when nothing was (as GOST's nil `[]byte`).
   * The bytes leave the capture for the record: its budget goes to the recorder queue
   * that takes the record's JSON.
   */
  base64(): string | null {
    if (this.#text === undefined) {
      this.#text = this.#kept === 0 ? null : Buffer.concat(this.#parts).toString("base64");
      this.#release();
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

  #giveUp(): void {
    this.#cut = true;
    this.#kept = 0;
    this.#release();
  }

  #release(): void {
    this.#parts = [];
    if (this.#held.held === 0) return;
    captureBudget.release(this.#held.held);
    this.#held.held = 0;
    unreleased.unregister(this);
  }
}
