const NON_ASCII = /[\u0080-\uffff]/;

/** True when every char of `s` is below 0x80: its UTF-8 and Latin-1 bytes are its chars. */
export function isAscii(s: string): boolean {
  return !NON_ASCII.test(s);
}
