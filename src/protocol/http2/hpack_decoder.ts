import { Buffer } from "node:buffer";
import type hpackLibrary from "hpack.js";
import { SniffLimitError } from "../limit_error.ts";

let hpack: typeof hpackLibrary | undefined;

/**
 * Loads hpack.js, when the first sniffed tunnel turns out to carry HTTP/2. Not at start, nor
 * with the first sniffed tunnel: it and what it pulls in (the npm module and the runtime
 * code that loads it) are memory that a proxy which never sees HTTP/2 need not carry.
 */
export async function loadHpack(): Promise<void> {
  hpack ??= (await import("hpack.js")).default;
}

/** Whether HPACK blocks can be decoded now, or `loadHpack` must be awaited first. */
export function hpackLoaded(): boolean {
  return hpack !== undefined;
}

/** Largest dynamic table we follow, whatever a peer announces. */
const MAX_TABLE = 1024 * 1024;

/**
 * HPACK (RFC 7541) decoding of one direction's header blocks, through hpack.js. Every
 * block must be decoded in order, even for streams we do not record, or the dynamic table
 * goes out of step. The decoded list is capped (name + value + 32 per field, RFC 9113's
 * accounting) so a hostile peer cannot make it grow without bound.
 *
 * The table starts at 4096 bytes (RFC 9113's default); the encoder may grow it, by a size
 * update in a block, up to what the other side announced in SETTINGS_HEADER_TABLE_SIZE,
 * which `allowTableSize` passes on.
 */
export class HpackDecoder {
  // deno-lint-ignore no-explicit-any
  readonly #inner: any;

  /** A field was decoded in the current block: a table size update may no longer come. */
  #fieldSeen = false;

  constructor(readonly maxListSize = 64 * 1024) {
    if (!hpack) throw new Error("hpack.js is not loaded: await loadHpack() first");
    this.#inner = hpack.decompressor.create({ table: { maxSize: 4096 } });
    // RFC 7541 §4.2: a dynamic table size update must come at the beginning of a block.
    // hpack.js (pinned 2.1.6) does not check that; its three representation handlers are
    // wrapped on this instance to do it.
    const inner = this.#inner;
    const indexed = inner._processIndexed, literal = inner._processLiteral;
    const update = inner._processUpdate;
    inner._processIndexed = (...args: unknown[]) => {
      this.#fieldSeen = true;
      return indexed.apply(inner, args);
    };
    inner._processLiteral = (...args: unknown[]) => {
      this.#fieldSeen = true;
      return literal.apply(inner, args);
    };
    inner._processUpdate = (...args: unknown[]) => {
      if (this.#fieldSeen) throw new Error("table size update after the first field of a block");
      return update.apply(inner, args);
    };
  }

  /** The peer of this direction's encoder announced this SETTINGS_HEADER_TABLE_SIZE. */
  allowTableSize(size: number): void {
    // hpack.js keeps the negotiated ceiling as its table's `protocolMaxSize`.
    this.#inner._table.protocolMaxSize = Math.min(size, MAX_TABLE);
  }

  decode(block: Uint8Array): [string, string][] {
    this.#fieldSeen = false;
    this.#inner.write(Buffer.from(block));
    this.#inner.execute();
    const out: [string, string][] = [];
    let size = 0;
    for (let h = this.#inner.read(); h; h = this.#inner.read()) {
      size += h.name.length + h.value.length + 32;
      if (size > this.maxListSize) throw new SniffLimitError("header list too large");
      out.push([h.name, h.value]);
    }
    return out;
  }
}
