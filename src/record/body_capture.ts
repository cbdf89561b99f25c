import type { HttpMessageRecord } from "./record.ts";
import { captureBudget } from "./capture_budget.ts";

/**
 * Gives back the budget of a capture that was never turned into a record (an exchange cut
 * off before its record was made): its bytes are garbage by then.
 */
const unreleased = new FinalizationRegistry<{ held: number }>((h) => captureBudget.release(h.held));

/**
 * A first chunk shorter than this is made base64 at once; a longer one, a read's worth,
 * likely has more behind it and is copied.
 */
const DIRECT_MAX = 16 * 1024;

/**
 * Counts every body byte and keeps the first `max` of them for the record, as far as the
 * process's capture budget allows: once the budget is spent the body is kept up to there and
 * the record says so (`bodyTruncated`). A kept byte is charged as the 4/3 of a byte that
 * its base64 takes in the record's text, which the record's queue then takes over.
 *
 * A body's first chunk is made base64 at once, straight from the reader's buffer: a body
 * that came in one read (most do) is then its record's text with no copy of its bytes in
 * between (a `Uint8Array` copy has a backing store of its own, costly per request). Once a
 * second chunk comes the body is held as bytes, the smallest way to hold a long body, and
 * made base64 at the end in one go.
 */
export class BodyCapture {
  total = 0;
  /** The body kept, as base64, while it is one chunk. */
  #head: string | null = null;
  /** Copies of the chunks kept, once there is more than one. */
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
    this.#kept += take;
    if (this.#head === null && this.#parts.length === 0 && take < DIRECT_MAX) {
      // Straight from the reader's buffer: no copy, and the usual body's whole record text.
      this.#head = (take === data.length ? data : data.subarray(0, take)).toBase64();
      return;
    }
    if (this.#head !== null) {
      // A second chunk: the body is held as bytes (the smallest way) and encoded at the end.
      this.#parts.push(Uint8Array.fromBase64(this.#head));
      this.#head = null;
    }
    this.#parts.push(data.slice(0, take));
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
      const parts = this.#parts;
      this.#text = parts.length === 0 ? this.#head : concat(parts, this.#kept).toBase64();
      this.#head = null;
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

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
