const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c;
const OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d, OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d;

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/**
 * How many elements the top-level array of a JSON text has, counting no further than `max`
 * (`max + 1` means more); 1 when the text is not an array. Counted on the bytes, before
 * JSON.parse, so that a body of millions of tiny records is refused for its count without
 * first being built into millions of objects. The text is not validated: a malformed one
 * gets a count that JSON.parse then refuses anyway.
 */
export function topLevelElements(bytes: Uint8Array, max: number): number {
  let i = 0;
  while (i < bytes.length && isSpace(bytes[i])) i++;
  if (bytes[i] !== OPEN_ARRAY) return 1;
  let depth = 0, inString = false, count = 0, empty = true;
  for (; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++; // the escaped byte cannot end the string
      else if (b === QUOTE) inString = false;
      continue;
    }
    if (b === QUOTE) inString = true;
    else if (b === OPEN_ARRAY || b === OPEN_OBJECT) depth++;
    else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      if (--depth === 0) break;
    } else if (b === COMMA && depth === 1) {
      if (++count >= max) return max + 1;
    }
    if (depth === 1 && b !== OPEN_ARRAY && !isSpace(b)) empty = false;
    else if (depth > 1) empty = false;
  }
  return empty ? 0 : count + 1;
}

/**
 * Whether a JSON text nests arrays and objects deeper than `max` levels, read on the bytes
 * as `topLevelElements` reads them. A record is a few levels deep; a peer's record nested a
 * hundred thousand levels parses, but every later structured clone or stringify of it
 * overflows the stack (the store worker's reply, the HAR export), so it is refused first.
 */
export function nestedDeeperThan(bytes: Uint8Array, max: number): boolean {
  let depth = 0, inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) depth--;
  }
  return false;
}
