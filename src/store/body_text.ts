/**
 * The text of a recorded body, as the body filters (`~b`, `~bq`, `~bs`, free text) test it and
 * as the store's word index holds it: the captured bytes (base64 in the record) undone of their
 * Content-Encoding (gzip, deflate, br, zstd) and read as UTF-8, for text-like content only, at
 * most `BODY_TEXT_MAX_BYTES` of it. One function for both, so that the index holds every word
 * the test can find: the index narrows a query's candidates, the test decides.
 *
 * A recorded body is hostile: a 1 MiB gzip body inflates to 1000 MiB. Decoding is synchronous
 * (the test runs inside a query and inside a recorder's filter) and bounded: node:zlib stops
 * at `maxOutputLength`, and when the whole body would give more, shorter prefixes of it are
 * decoded (a flush, not an end, is asked for, so a prefix decodes as far as it goes), each
 * again bounded, a few times at most.
 */
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import type { ParsedRecord } from "../record/parsed_record.ts";

/** Decoded bytes of one body searched and indexed at most. */
export const BODY_TEXT_MAX_BYTES = 256 * 1024;
/** Captured (encoded) bytes of one body read at most. */
const BODY_INPUT_MAX_BYTES = 1024 * 1024;
/**
 * Decodes of ever shorter prefixes (halved each time) tried when a body decodes to more than
 * the cap: enough to reach a few bytes of the largest input, each bounded by the cap.
 */
const PREFIX_TRIES = 20;

type Decompress = (buf: Buffer, opts: zlib.ZlibOptions | zlib.BrotliOptions) => Buffer;

const DECOMPRESSORS: Record<string, [Decompress, Record<string, number>]> = {
  gzip: [zlib.gunzipSync, { finishFlush: zlib.constants.Z_SYNC_FLUSH }],
  "x-gzip": [zlib.gunzipSync, { finishFlush: zlib.constants.Z_SYNC_FLUSH }],
  deflate: [zlib.inflateSync, { finishFlush: zlib.constants.Z_SYNC_FLUSH }],
  br: [zlib.brotliDecompressSync, { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH }],
  // deno-lint-ignore no-explicit-any
  zstd: [(zlib as any).zstdDecompressSync, {}],
};

/**
 * The first bytes (at most `BODY_TEXT_MAX_BYTES`) `encoding` decodes `input` to, or null when
 * it does not decode.
 */
export function decodeBounded(encoding: string, input: Uint8Array): Uint8Array | null {
  const entry = DECOMPRESSORS[encoding];
  if (!entry) return null;
  const [decompress, flush] = entry;
  let buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  for (let i = 0; i <= PREFIX_TRIES && buf.length > 0; i++) {
    try {
      return decompress(buf, { ...flush, maxOutputLength: BODY_TEXT_MAX_BYTES });
    } catch (e) {
      if ((e as { code?: string }).code !== "ERR_BUFFER_TOO_LARGE") return null;
      buf = buf.subarray(0, buf.length >> 1);
    }
  }
  return null;
}

/** Content types whose bodies are text (a charset other than UTF-8 is read as UTF-8 too). */
const TEXT_TYPE =
  /^\s*(text\/|[\w.+-]+\/[\w.+-]*(json|xml|javascript|ecmascript|yaml|csv|graphql|x-www-form-urlencoded)\b)/i;

function headerValue(h: unknown, name: string): string | null {
  if (!h || typeof h !== "object") return null;
  for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
    if (k.toLowerCase() !== name) continue;
    if (Array.isArray(v)) return v.length ? String(v[0]) : null;
    return typeof v === "string" ? v : null;
  }
  return null;
}

function base64Bytes(b64: unknown): Uint8Array | null {
  if (typeof b64 !== "string" || b64 === "") return null;
  try {
    return Buffer.from(b64.slice(0, Math.ceil(BODY_INPUT_MAX_BYTES / 3) * 4), "base64");
  } catch {
    return null;
  }
}

/** UTF-8 text of `bytes`; with `strict`, null when they are not UTF-8 (binary). */
function utf8(bytes: Uint8Array, strict: boolean): string | null {
  const cut = bytes.subarray(0, BODY_TEXT_MAX_BYTES);
  try {
    // `stream`: a character cut at the cap is not an error.
    return new TextDecoder("utf-8", { fatal: strict }).decode(cut, { stream: true });
  } catch {
    return null;
  }
}

/**
 * The searchable text of one side's body: "" for no body, a binary content type, an encoding
 * snoop does not undo, or bytes that do not decode. A body without a Content-Type counts as
 * text when it is UTF-8.
 */
export function bodyText(r: ParsedRecord, side: "request" | "response"): string {
  const part = r?.http?.[side];
  if (!part || typeof part !== "object") return "";
  let bytes = base64Bytes(part.body);
  if (!bytes) return "";
  const type = headerValue(part.header, "content-type");
  if (type !== null && !TEXT_TYPE.test(type)) return "";
  const encoding = headerValue(part.header, "content-encoding")?.trim().toLowerCase() ?? "";
  if (encoding !== "" && encoding !== "identity") {
    bytes = decodeBounded(encoding, bytes);
    if (!bytes) return "";
  }
  return utf8(bytes, type === null) ?? "";
}

/** A WebSocket frame's payload as text ("" when it is not UTF-8). */
export function payloadText(r: ParsedRecord): string {
  const ws = r?.websocket;
  const bytes = base64Bytes(ws?.payload);
  if (!bytes) return "";
  if (ws.masked) {
    // A client's frame is recorded as sent, masked: `maskKey` holds the 4 mask bytes with
    // the first in its low byte.
    const key = Number(ws.maskKey) >>> 0;
    for (let i = 0; i < bytes.length; i++) bytes[i] ^= (key >>> ((i % 4) * 8)) & 0xff;
  }
  return utf8(bytes, true) ?? "";
}

/** Every body text of a record, as the word index takes it. */
export function recordBodyText(r: ParsedRecord): string {
  return [bodyText(r, "request"), bodyText(r, "response"), payloadText(r)]
    .filter((t) => t !== "").join("\n");
}

/**
 * Characters SQLite's word index (FTS5's unicode61 tokenizer) keeps inside words: letters,
 * digits, private-use characters and non-spacing marks (which it folds away); the rest
 * separate words. Filters split their text the same way so that each word is one token.
 */
export const WORD_CHAR = /[\p{L}\p{N}\p{Co}\p{Mn}]/u;
export const WORDS = /[\p{L}\p{N}\p{Co}\p{Mn}]+/gu;

const asciiLower = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/**
 * Whether `hay` holds `needle` starting at the start of a word (ASCII letters compare without
 * case): `~b order` finds "order-7" and "new order", not "reorder". The index can only
 * answer for words from their start, so the test asks no more of a body than that.
 */
export function holdsFromWordStart(hay: string, needle: string): boolean {
  if (needle === "") return true;
  const h = asciiLower(hay), n = asciiLower(needle);
  const anywhere = !WORD_CHAR.test(needle[0]);
  for (let at = h.indexOf(n); at !== -1; at = h.indexOf(n, at + 1)) {
    if (anywhere || at === 0) return true;
    // The character before (a surrogate pair counts as a word character: conservative).
    const before = h[at - 1];
    if (!WORD_CHAR.test(before) && !/[\uD800-\uDFFF]/.test(before)) return true;
  }
  return false;
}

/**
 * The word-index query that every body holding `needle` from a word start matches: each word
 * whole, the last as a prefix. Null when no such query helps (no word, or a word outside the
 * Basic Multilingual Plane, where the index's and JavaScript's Unicode tables may differ).
 */
export function bodyWordsQuery(needle: string): string | null {
  const words = needle.match(WORDS) ?? [];
  if (words.length === 0 || words.some((w) => /[\uD800-\uDFFF]/.test(w))) return null;
  return words.map((w, i) => `"${w}"${i === words.length - 1 ? " *" : ""}`).join(" AND ");
}
