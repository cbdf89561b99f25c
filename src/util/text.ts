import { Buffer } from "node:buffer";

const NON_ASCII = /[\u0080-\uffff]/;

/** True when every char of `s` is below 0x80: its UTF-8 and Latin-1 bytes are its chars. */
export function isAscii(s: string): boolean {
  return !NON_ASCII.test(s);
}

/**
 * `s` with its characters in one piece. V8 keeps a concatenation of 13 characters or more
 * as a tree of its parts (a cons string) and a slice that long as a view into the string it
 * came from (a sliced string). `JSON.stringify`'s fast path takes neither: at the first one
 * it starts the whole value over on its slow path, which costs a record far more than
 * making its strings whole (`deno task bench` measures it). Strings a record carries are
 * made whole where they are made, with this or with `Array.prototype.join`, which writes its
 * result in one piece (a join of one non-empty part returns that part, hence two here).
 */
export function wholeString(s: string): string {
  return s.length < 13 ? s : [s[0], s.slice(1)].join("");
}

/**
 * Bytes as chars, one to one (ISO-8859-1), as HTTP heads are read: a header's obs-text must
 * leave the proxy as the bytes that came in.
 *
 * Not `new TextDecoder("latin1")`: WHATWG maps that label to windows-1252, which reads 0x80 as
 * U+20AC and 0x93 as U+201C (written back one byte per char, they left as 0xAC and 0x1C).
 * node's Buffer decodes true Latin-1, and faster than the TextDecoder too.
 */
export function decodeLatin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
}
