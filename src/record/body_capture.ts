import { Buffer } from "node:buffer";

/** Counts every body byte and keeps the first `max` of them for the record. */
export class BodyCapture {
  total = 0;
  #parts: Uint8Array[] = [];
  #kept = 0;

  constructor(readonly keep: boolean, readonly max: number) {}

  add(data: Uint8Array): void {
    this.total += data.length;
    if (!this.keep || this.#kept >= this.max || data.length === 0) return;
    const take = Math.min(data.length, this.max - this.#kept);
    this.#parts.push(data.slice(0, take));
    this.#kept += take;
  }

  get truncated(): boolean {
    return this.total > this.#kept;
  }

  /** Standard base64 of what was kept, or null when nothing was (as GOST's nil `[]byte`). */
  base64(): string | null {
    if (this.#kept === 0) return null;
    return Buffer.concat(this.#parts).toString("base64");
  }
}
