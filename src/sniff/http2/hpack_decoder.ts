import { Buffer } from "node:buffer";
import hpack from "hpack.js";

/**
 * HPACK (RFC 7541) decoding of one direction's header blocks, through hpack.js. Every
 * block must be decoded in order, even for streams we do not record, or the dynamic table
 * goes out of step. The decoded list is capped (name + value + 32 per field, RFC 9113's
 * accounting) so a hostile peer cannot make it grow without bound.
 */
export class HpackDecoder {
  // deno-lint-ignore no-explicit-any
  readonly #inner: any = hpack.decompressor.create({ table: { size: 65536 } });

  constructor(readonly maxListSize = 64 * 1024) {}

  decode(block: Uint8Array): [string, string][] {
    this.#inner.write(Buffer.from(block));
    this.#inner.execute();
    const out: [string, string][] = [];
    let size = 0;
    for (let h = this.#inner.read(); h; h = this.#inner.read()) {
      size += h.name.length + h.value.length + 32;
      if (size > this.maxListSize) throw new RangeError("header list too large");
      out.push([h.name, h.value]);
    }
    return out;
  }
}
