const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c;
const OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d, OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d;

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/** What `outline` read of a JSON text's structure. */
export interface JsonOutline {
  /** Elements of the top-level array, up to `maxElements + 1`; 1 for a text that is not one. */
  elements: number;
  /** Whether arrays and objects nest deeper than `maxDepth` levels. */
  tooDeep: boolean;
}

/**
 * The index of the quote that closes the string whose opening quote is at `open`, or the
 * text's length when it is not closed; a backslash escapes the byte after it.
 */
function stringEnd(bytes: Uint8Array, open: number): number {
  for (let i = open + 1; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === QUOTE) return i;
    if (b === BACKSLASH) i++; // the escaped byte cannot end the string
  }
  return bytes.length;
}

/**
 * One pass over a JSON text's bytes, before JSON.parse: how many elements its top-level array
 * has (counting no further than `maxElements`, so a body of millions of tiny records is refused
 * for its count without first being built into millions of objects), and whether it nests
 * deeper than `maxDepth` (a record is a few levels deep; a peer's record nested a hundred
 * thousand levels parses, but every later structured clone or stringify of it overflows the
 * stack: the store worker's reply, the HAR export). The text is not validated: a malformed one
 * gets an outline that JSON.parse then refuses anyway. The pass ends early at either limit.
 */
export function outline(bytes: Uint8Array, maxElements: number, maxDepth: number): JsonOutline {
  let i = 0;
  while (i < bytes.length && isSpace(bytes[i])) i++;
  const isArray = bytes[i] === OPEN_ARRAY;
  let depth = 0, count = 0, empty = true, ended = false;
  for (; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === QUOTE) {
      if (depth === 1 && !ended) empty = false;
      i = stringEnd(bytes, i);
      continue;
    }
    if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (depth === 1 && !ended) empty = false;
      if (++depth > maxDepth) {
        // Of an array not ended yet, the elements so far.
        return { elements: !isArray ? 1 : empty ? 0 : count + 1, tooDeep: true };
      }
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      // The top-level array's end; what follows still counts for depth (JSON.parse refuses it).
      if (--depth === 0) ended = true;
    } else if (isArray && !ended && depth === 1 && !isSpace(b)) {
      empty = false;
      if (b === COMMA && ++count >= maxElements) {
        return { elements: maxElements + 1, tooDeep: false };
      }
    }
  }
  return { elements: !isArray ? 1 : empty ? 0 : count + 1, tooDeep: false };
}

/**
 * How many elements the top-level array of a JSON text has, counting no further than `max`
 * (`max + 1` means more); 1 when the text is not an array. See `outline`.
 */
export function topLevelElements(bytes: Uint8Array, max: number): number {
  return outline(bytes, max, Infinity).elements;
}

/** Whether a JSON text nests arrays and objects deeper than `max` levels. See `outline`. */
export function nestedDeeperThan(bytes: Uint8Array, max: number): boolean {
  return outline(bytes, Infinity, max).tooDeep;
}
