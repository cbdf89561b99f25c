/**
 * An incremental reader of a `text/event-stream` body (the HTML standard's Server-Sent
 * Events): UTF-8 lines ended by CRLF, LF or CR; `field: value` lines (one optional space
 * after the colon is not part of the value); lines starting with `:` are comments; a blank
 * line ends (dispatches) an event. Fields: `event` (the type), `data` (lines joined with LF),
 * `id` (ignored when it holds NUL), `retry` (ASCII digits only). Unknown fields are ignored.
 *
 * Bytes arrive in chunks split anywhere: a line, a CRLF, or a UTF-8 sequence may straddle
 * two chunks. Lines are cut on the bytes CR and LF, which never occur inside a UTF-8
 * sequence, so each whole line decodes on its own. Every buffer is bounded: what one event
 * keeps (its lines, data and comments together) stops at `maxEventBytes`; the rest of the
 * event is still read (its line ends found, its bytes counted) but not kept, and the event
 * says `truncated`.
 */

export interface SseEvent {
  /** The `event` field ("" when none: a client treats it as `message`). */
  event: string;
  /** The `data` lines joined with LF (possibly cut, see `truncated`). */
  data: string;
  /** The `id` field, or null when the event had none. */
  id: string | null;
  /** The `retry` field in milliseconds, or null when absent or not all digits. */
  retry: number | null;
  /** Comment lines (without the leading `:`) joined with LF, or null when none. */
  comment: string | null;
  /** Part of the event was not kept: it was longer than the parser's cap. */
  truncated: boolean;
  /** Bytes of the stream this event took, blank line and comments included. */
  wireLength: number;
}

const LF = 0x0a;
const CR = 0x0d;

export class SseParser {
  readonly #decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  /** Bytes of the current (unfinished) line kept so far. */
  #line: Uint8Array[] = [];
  #lineKept = 0;
  /** Bytes of the current line, kept or not. */
  #lineSeen = 0;
  /** The previous chunk ended in CR: an LF first in the next one belongs to it. */
  #afterCR = false;
  #firstLine = true;
  // The event being read.
  #event = "";
  #data: string[] = [];
  #id: string | null = null;
  #retry: number | null = null;
  #comments: string[] = [];
  #hasField = false;
  #kept = 0;
  #truncated = false;
  #wire = 0;

  constructor(readonly maxEventBytes: number) {}

  /** Reads `chunk`, calling `onEvent` for each event it completes. */
  push(chunk: Uint8Array, onEvent: (e: SseEvent) => void): void {
    let start = 0;
    if (this.#afterCR && chunk.length > 0) {
      this.#afterCR = false;
      if (chunk[0] === LF) {
        this.#wire++;
        start = 1;
      }
    }
    for (let i = start; i < chunk.length; i++) {
      const b = chunk[i];
      if (b !== LF && b !== CR) continue;
      this.#keep(chunk.subarray(start, i));
      this.#wire += i - start + 1;
      if (b === CR) {
        if (i + 1 < chunk.length) {
          if (chunk[i + 1] === LF) {
            i++;
            this.#wire++;
          }
        } else this.#afterCR = true;
      }
      start = i + 1;
      this.#endLine(onEvent);
    }
    if (start < chunk.length) {
      this.#keep(chunk.subarray(start));
      this.#wire += chunk.length - start;
    }
  }

  /**
   * The stream ended. An event without its blank line is not dispatched (as a browser
   * does); the number of its bytes is returned so a caller can count them.
   */
  finish(): number {
    const left = this.#wire;
    this.#reset();
    this.#line = [];
    this.#lineKept = 0;
    this.#lineSeen = 0;
    return left;
  }

  #keep(bytes: Uint8Array) {
    if (bytes.length === 0) return;
    this.#lineSeen += bytes.length;
    const room = this.maxEventBytes - this.#kept - this.#lineKept;
    if (room <= 0) {
      this.#truncated = true;
      return;
    }
    const take = Math.min(room, bytes.length);
    if (take < bytes.length) this.#truncated = true;
    this.#line.push(bytes.slice(0, take));
    this.#lineKept += take;
  }

  #lineText(): string {
    let bytes: Uint8Array;
    if (this.#line.length === 1) bytes = this.#line[0];
    else {
      bytes = new Uint8Array(this.#lineKept);
      let at = 0;
      for (const p of this.#line) {
        bytes.set(p, at);
        at += p.length;
      }
    }
    this.#kept += this.#lineKept;
    this.#line = [];
    this.#lineKept = 0;
    this.#lineSeen = 0;
    let text = this.#decoder.decode(bytes);
    if (this.#firstLine) {
      this.#firstLine = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  }

  #endLine(onEvent: (e: SseEvent) => void) {
    const empty = this.#lineSeen === 0;
    const line = this.#lineText();
    if (empty) {
      if (this.#hasField) {
        onEvent({
          event: this.#event,
          data: this.#data.join("\n"),
          id: this.#id,
          retry: this.#retry,
          comment: this.#comments.length ? this.#comments.join("\n") : null,
          truncated: this.#truncated,
          // A CR last in its chunk: the LF that usually follows is counted with this event
          // (and taken back from the next if it does not come), whatever the chunks' split.
          wireLength: this.#wire + (this.#afterCR ? 1 : 0),
        });
        this.#reset();
        if (this.#afterCR) this.#wire = -1;
      } else if (this.#comments.length === 0 && !this.#truncated) {
        // A blank line with nothing before it: its bytes go with the next event.
      } else {
        // Only comments (a keep-alive): not an event; its bytes go with the next one.
        this.#comments = [];
        this.#kept = 0;
        this.#truncated = false;
      }
      return;
    }
    if (line.charCodeAt(0) === 0x3a /* : */) {
      this.#comments.push(line.slice(1).replace(/^ /, ""));
      return;
    }
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    switch (name) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      case "retry":
        if (/^[0-9]{1,15}$/.test(value)) this.#retry = Number(value);
        break;
      default:
        return; // unknown field: ignored, and not an event on its own
    }
    this.#hasField = true;
  }

  #reset() {
    this.#event = "";
    this.#data = [];
    this.#id = null;
    this.#retry = null;
    this.#comments = [];
    this.#hasField = false;
    this.#kept = 0;
    this.#truncated = false;
    this.#wire = 0;
  }
}
