/**
 * Incremental HTTP/1.x message parser (RFC 9112), sans-IO: bytes go in with `push`, events
 * come out of `next` until it answers `null` (need more bytes). The same parser frames
 * requests for the forward proxy and reads a copy of tunnel traffic for the sniffer.
 *
 * Every event carries `wire`: the exact bytes of the stream it covers, so a proxy can
 * forward a body verbatim (chunk-size lines included) while the sniffer looks at `data`,
 * the decoded payload. Views handed out are valid until the next `push`.
 *
 *   request  = request-line CRLF *( field-line CRLF ) CRLF [ message-body ]
 *   response = status-line  CRLF *( field-line CRLF ) CRLF [ message-body ]
 *   chunked  = *( chunk-size [ ext ] CRLF chunk-data CRLF ) "0" [ ext ] CRLF trailers CRLF
 */
import { decodeLatin1 } from "../../util/text.ts";

export interface Http1Head {
  /** Request method, or "" for a response. */
  method: string;
  /** Request target as received (origin, absolute, authority or asterisk form). */
  target: string;
  /** Response status, or 0 for a request. */
  status: number;
  reason: string;
  /** `HTTP/1.0` or `HTTP/1.1`. */
  version: string;
  /** Field lines in wire order, names as sent. */
  headers: [string, string][];
}

/** How the body of a message is delimited (RFC 9112 §6.3). */
export type BodyFraming = "none" | "length" | "chunked" | "close";

export type Http1Event =
  | { type: "head"; head: Http1Head; wire: Uint8Array; framing: BodyFraming; length: number }
  | { type: "body"; wire: Uint8Array; data: Uint8Array }
  | { type: "end"; wire: Uint8Array }
  /** Bytes after a protocol switch (101, CONNECT 2xx): no longer HTTP/1. */
  | { type: "tunnel"; wire: Uint8Array };

/** A message the parser refuses, with the status a server should answer. */
export class Http1ParseError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = "Http1ParseError";
  }
}

/** The peer closed in the middle of a message: a disconnect, not a bad message. */
export class Http1Truncated extends Http1ParseError {}

export interface Http1Limits {
  maxStartLine: number;
  maxHeaderLine: number;
  maxHeaderBytes: number;
  maxHeaderCount: number;
  maxChunkLine: number;
  /** Chunk-extension bytes allowed in one message, all chunks together (Node's 16 KiB). */
  maxChunkExtensions: number;
  /**
   * RFC 9112 §3.2 Host rules for requests: one Host, required in HTTP/1.1 (CONNECT aside).
   * The proxy enforces them; the passive sniffer records what it sees instead.
   */
  strictHost: boolean;
}

/** Defaults from reliability-limits §0: nginx/Squid line sizes, Envoy/Squid block size. */
export const DEFAULT_HTTP1_LIMITS: Http1Limits = {
  maxStartLine: 8 * 1024,
  maxHeaderLine: 8 * 1024,
  maxHeaderBytes: 64 * 1024,
  maxHeaderCount: 100,
  maxChunkLine: 4 * 1024,
  maxChunkExtensions: 16 * 1024,
  strictHost: true,
};

type State =
  | "head"
  | "length"
  | "chunk-size"
  | "chunk-data"
  | "chunk-data-end"
  | "trailers"
  | "end"
  | "close"
  | "hold"
  | "tunnel"
  | "dead";

const EMPTY = new Uint8Array(0);
/** NUL, or a CR not followed by LF (global: `lastIndex` says where to start). */
const BAD_FIELD_CHAR = /\0|\r(?!\n)/g;

export class Http1Parser {
  #buf: Uint8Array = EMPTY;
  #pos = 0;
  #owned = true;
  #state: State = "head";
  #remaining = 0;
  #scanFrom = 0;
  /** Chunk-extension bytes of the current message so far. */
  #extensionBytes = 0;
  /** Complete lines of the head being scanned, counted by earlier calls. */
  #headLines = 0;
  #trailerStart = 0;
  #eof = false;
  #pendingMethods: string[] = [];
  #afterBody: "head" | "hold" | "tunnel" = "head";
  readonly limits: Http1Limits;

  constructor(readonly kind: "request" | "response", limits: Partial<Http1Limits> = {}) {
    this.limits = { ...DEFAULT_HTTP1_LIMITS, ...limits };
  }

  /** For a response parser: the method of the request the next response answers. */
  expectResponseTo(method: string): void {
    this.#pendingMethods.push(method);
  }

  /** True when the parser sits between messages with nothing buffered. */
  get idle(): boolean {
    return this.#state === "head" && this.#pos >= this.#buf.length;
  }

  /** True once the stream switched protocols (or was held and then switched). */
  get tunneling(): boolean {
    return this.#state === "tunnel";
  }

  /** After a request that may switch protocols (Upgrade, CONNECT): bytes are held until told. */
  get holding(): boolean {
    return this.#state === "hold";
  }

  /** The held stream switched protocols: everything from here on is tunnel bytes. */
  switchToTunnel(): void {
    if (this.#state === "hold" || this.#state === "head") this.#state = "tunnel";
    else this.#afterBody = "tunnel";
  }

  /** The held stream did not switch (for example a 4xx to an Upgrade): keep parsing HTTP. */
  resume(): void {
    if (this.#state === "hold") this.#state = "head";
    if (this.#afterBody === "hold") this.#afterBody = "head";
  }

  push(chunk: Uint8Array): void {
    if (this.#state === "dead") return;
    if (this.#pos >= this.#buf.length) {
      this.#buf = chunk;
      this.#owned = false;
    } else {
      const rest = this.#buf.subarray(this.#pos);
      const merged = new Uint8Array(rest.length + chunk.length);
      merged.set(rest);
      merged.set(chunk, rest.length);
      this.#scanFrom -= this.#pos;
      this.#trailerStart -= this.#pos;
      this.#buf = merged;
      this.#owned = true;
    }
    this.#pos = 0;
  }

  /** The peer closed: a close-delimited body ends; anything else half-done is an error. */
  finish(): void {
    this.#eof = true;
  }

  /**
   * The next event, or null when more bytes are needed. Throws `Http1ParseError` for a
   * message that cannot be parsed; the parser is unusable afterwards.
   */
  next(): Http1Event | null {
    try {
      const ev = this.#step();
      if (ev === null) this.#keepLeftover();
      return ev;
    } catch (e) {
      this.#state = "dead";
      throw e;
    }
  }

  /** Bytes buffered but not yet turned into events (for example after `hold`). */
  takeBuffered(): Uint8Array {
    const out = this.#buf.slice(this.#pos);
    this.#buf = EMPTY;
    this.#pos = 0;
    this.#scanFrom = 0;
    return out;
  }

  /** Keeps unconsumed bytes past the caller's reuse of its read buffer. */
  #keepLeftover() {
    if (!this.#owned && this.#pos < this.#buf.length) {
      const rest = this.#buf.slice(this.#pos);
      this.#scanFrom -= this.#pos;
      this.#trailerStart -= this.#pos;
      this.#buf = rest;
      this.#pos = 0;
      this.#owned = true;
    }
  }

  get #available(): number {
    return this.#buf.length - this.#pos;
  }

  #take(n: number): Uint8Array {
    const v = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }

  #step(): Http1Event | null {
    switch (this.#state) {
      case "head":
        return this.#readHead();
      case "length": {
        if (this.#available === 0) {
          if (this.#eof) throw new Http1Truncated("unexpected EOF in body");
          return null;
        }
        const n = Math.min(this.#remaining, this.#available);
        const v = this.#take(n);
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = "end";
        return { type: "body", wire: v, data: v };
      }
      case "chunk-size":
        return this.#readChunkSize();
      case "chunk-data": {
        if (this.#available === 0) {
          if (this.#eof) throw new Http1Truncated("unexpected EOF in chunk");
          return null;
        }
        const n = Math.min(this.#remaining, this.#available);
        const v = this.#take(n);
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = "chunk-data-end";
        return { type: "body", wire: v, data: v };
      }
      case "chunk-data-end":
        return this.#readChunkDataEnd();
      case "trailers":
        return this.#readTrailers();
      case "end":
        return this.#endMessage(EMPTY);
      case "close": {
        if (this.#available > 0) {
          const v = this.#take(this.#available);
          return { type: "body", wire: v, data: v };
        }
        if (this.#eof) return this.#endMessage(EMPTY);
        return null;
      }
      case "hold":
        return null;
      case "tunnel": {
        if (this.#available === 0) return null;
        return { type: "tunnel", wire: this.#take(this.#available) };
      }
      case "dead":
        return null;
    }
  }

  #endMessage(wire: Uint8Array): Http1Event {
    this.#state = this.#afterBody;
    this.#afterBody = "head";
    return { type: "end", wire };
  }

  /** Finds the end of the field section; `\n` alone is accepted as a line end (as Go does). */
  #readHead(): Http1Event | null {
    const buf = this.#buf;
    // Ignore empty lines before a request line (RFC 9112 §2.2).
    while (this.#scanFrom <= this.#pos && this.#available > 0) {
      if (buf[this.#pos] === 0x0a) this.#pos++;
      else if (buf[this.#pos] === 0x0d && this.#available >= 2 && buf[this.#pos + 1] === 0x0a) {
        this.#pos += 2;
      } else break;
    }
    if (this.#available === 0) return null;
    let i = Math.max(this.#scanFrom, this.#pos);
    let lineStart = i;
    // Lines of this head seen by earlier calls count too: the limit must not depend on how
    // the bytes were split (found by the fuzzer).
    let lines = i === this.#pos ? 0 : this.#headLines;
    // Line by line: indexOf finds each LF natively instead of a loop over every byte.
    for (; (i = buf.indexOf(0x0a, i)) >= 0; i++) {
      const lineLen = i - lineStart;
      const isEmpty = lineLen === 0 || (lineLen === 1 && buf[lineStart] === 0x0d);
      if (isEmpty && lineStart > this.#pos) {
        const end = i + 1;
        const wire = buf.subarray(this.#pos, end);
        const head = this.#parseHead(wire);
        this.#pos = end;
        this.#scanFrom = 0;
        this.#headLines = 0;
        return this.#startBody(head, wire);
      }
      lines++;
      const limit = lineStart === this.#pos ? this.limits.maxStartLine : this.limits.maxHeaderLine;
      if (lineLen > limit) this.#tooLong(lineStart === this.#pos);
      lineStart = i + 1;
    }
    // Not complete yet: check the partial line and the block against their caps.
    const partial = buf.length - lineStart;
    const limit = lineStart === this.#pos ? this.limits.maxStartLine : this.limits.maxHeaderLine;
    if (partial > limit) this.#tooLong(lineStart === this.#pos);
    if (buf.length - this.#pos > this.limits.maxHeaderBytes) {
      throw new Http1ParseError("header block too large", 431);
    }
    if (lines > this.limits.maxHeaderCount + 1) {
      throw new Http1ParseError("too many header fields", 431);
    }
    this.#scanFrom = lineStart;
    this.#headLines = lines;
    if (this.#eof) throw new Http1Truncated("unexpected EOF in message head");
    return null;
  }

  #tooLong(startLine: boolean): never {
    if (startLine) {
      throw new Http1ParseError(
        this.kind === "request" ? "request line too long" : "status line too long",
        this.kind === "request" ? 414 : 502,
      );
    }
    throw new Http1ParseError("header line too long", 431);
  }

  #parseHead(wire: Uint8Array): Http1Head {
    if (wire.length > this.limits.maxHeaderBytes) {
      throw new Http1ParseError("header block too large", 431);
    }
    // Latin-1: one character per byte, so the text's line ends are the bytes'. The fields
    // are cut out of it line by line with indexOf; no array of lines, no per-line copy.
    const text = decodeLatin1(wire);
    const startEnd = text.indexOf("\n");
    // The field count is checked before the start line and the fields, as the incremental
    // scan checks it before the head is whole: the same bytes get the same answer however
    // they arrive.
    let count = 0;
    for (let i = startEnd + 1; (i = text.indexOf("\n", i) + 1) > 0;) count++;
    // Minus the empty line that ends the head.
    if (count - 1 > this.limits.maxHeaderCount) {
      throw new Http1ParseError("too many header fields", 431);
    }
    const head: Http1Head = {
      method: "",
      target: "",
      status: 0,
      reason: "",
      version: "",
      headers: [],
    };
    const start = text.slice(0, lineEnd(text, 0, startEnd));
    if (this.kind === "request") {
      const m = /^([^ ]+) ([^ ]+) (HTTP\/\d\.\d)$/.exec(start);
      if (!m || !isToken(m[1], 0, m[1].length)) {
        throw new Http1ParseError("malformed request line");
      }
      [, head.method, head.target, head.version] = m;
      if (head.version !== "HTTP/1.1" && head.version !== "HTTP/1.0") {
        throw new Http1ParseError(`unsupported HTTP version ${head.version}`, 505);
      }
    } else {
      const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(start);
      if (!m) throw new Http1ParseError("malformed status line", 502);
      head.version = m[1];
      head.status = Number(m[2]);
      head.reason = m[3] ?? "";
    }
    // One native scan of the fields for NUL or a CR that does not end a line; only a head
    // that has one is checked value by value (so the error names what it is).
    BAD_FIELD_CHAR.lastIndex = startEnd + 1;
    const suspect = BAD_FIELD_CHAR.test(text);
    for (let from = startEnd + 1;;) {
      const newline = text.indexOf("\n", from);
      const end = lineEnd(text, from, newline);
      if (end === from) break; // the empty line
      const first = text.charCodeAt(from);
      if (first === 0x20 || first === 0x09) {
        throw new Http1ParseError("obsolete line folding is not allowed");
      }
      const colon = text.indexOf(":", from);
      if (colon <= from || colon >= end) throw new Http1ParseError("malformed header field");
      const name = text.slice(from, colon);
      if (!isToken(text, from, colon)) {
        throw new Http1ParseError(`invalid header name ${JSON.stringify(name)}`);
      }
      let valueStart = colon + 1, valueEnd = end;
      while (valueStart < valueEnd && isSpaceOrTab(text.charCodeAt(valueStart))) valueStart++;
      while (valueEnd > valueStart && isSpaceOrTab(text.charCodeAt(valueEnd - 1))) valueEnd--;
      if (suspect) {
        for (let i = valueStart; i < valueEnd; i++) {
          const c = text.charCodeAt(i);
          if (c === 0x00 || c === 0x0d) {
            throw new Http1ParseError("invalid character in header value");
          }
        }
      }
      head.headers.push([name, text.slice(valueStart, valueEnd)]);
      from = newline + 1;
    }
    if (this.kind === "request" && this.limits.strictHost) {
      const hosts = head.headers.filter(([n]) => isFieldName(n, "host"));
      if (hosts.length > 1) throw new Http1ParseError("more than one Host header");
      if (hosts.length === 0 && head.version === "HTTP/1.1" && head.method !== "CONNECT") {
        throw new Http1ParseError("HTTP/1.1 request without Host");
      }
    }
    return head;
  }

  #startBody(head: Http1Head, wire: Uint8Array): Http1Event {
    this.#extensionBytes = 0;
    const { framing, length } = this.kind === "request"
      ? requestFraming(head)
      : this.#responseFraming(head);
    const ev: Http1Event = { type: "head", head, wire, framing, length };
    if (this.kind === "request") {
      const upgrading = head.method === "CONNECT" ||
        (hasToken(head, "connection", "upgrade") && headerValues(head, "upgrade").length > 0);
      this.#afterBody = upgrading ? "hold" : "head";
    } else {
      this.#afterBody = (head.status === 101 || this.#connectOk(head)) ? "tunnel" : "head";
    }
    switch (framing) {
      case "none":
        // An empty-bodied message ends right away; the caller sees head then end.
        this.#state = "end";
        break;
      case "length":
        this.#remaining = length;
        this.#state = length === 0 ? "end" : "length";
        break;
      case "chunked":
        this.#state = "chunk-size";
        break;
      case "close":
        this.#state = "close";
        break;
    }
    return ev;
  }

  #lastConnect = false;

  #connectOk(head: Http1Head): boolean {
    return this.#lastConnect && head.status >= 200 && head.status < 300;
  }

  #responseFraming(head: Http1Head): { framing: BodyFraming; length: number } {
    const informational = head.status >= 100 && head.status < 200;
    // A 1xx (other than 101) is followed by the real response to the same request.
    const method = informational && head.status !== 101
      ? (this.#pendingMethods[0] ?? "GET")
      : (this.#pendingMethods.shift() ?? "GET");
    this.#lastConnect = method === "CONNECT";
    if (informational || head.status === 204 || head.status === 304 || method === "HEAD") {
      return { framing: "none", length: 0 };
    }
    if (method === "CONNECT" && head.status >= 200 && head.status < 300) {
      return { framing: "none", length: 0 };
    }
    const te = headerValues(head, "transfer-encoding");
    if (te.length > 0) {
      return lastCoding(te) === "chunked"
        ? { framing: "chunked", length: -1 }
        : { framing: "close", length: -1 };
    }
    const cl = contentLength(head);
    if (cl !== null) return { framing: "length", length: cl };
    return { framing: "close", length: -1 };
  }

  #readChunkSize(): Http1Event | null {
    const buf = this.#buf;
    const lf = buf.indexOf(0x0a, this.#pos);
    if (lf < 0) {
      if (this.#available > this.limits.maxChunkLine) {
        throw new Http1ParseError("chunk size line too long");
      }
      if (this.#eof) throw new Http1Truncated("unexpected EOF in chunk size");
      return null;
    }
    if (lf - this.#pos > this.limits.maxChunkLine) {
      throw new Http1ParseError("chunk size line too long");
    }
    if (lf === this.#pos || buf[lf - 1] !== 0x0d) {
      throw new Http1ParseError("chunk size line must end with CRLF");
    }
    const line = decodeLatin1(buf.subarray(this.#pos, lf - 1));
    const m = /^([0-9a-fA-F]{1,15})[ \t]*(;.*)?$/.exec(line);
    if (!m) throw new Http1ParseError("malformed chunk size");
    // Extensions are skipped, but many large ones are a cheap way to make a peer work
    // (CVE-2023-39326 class): their total per message is capped.
    this.#extensionBytes += m[2]?.length ?? 0;
    if (this.#extensionBytes > this.limits.maxChunkExtensions) {
      throw new Http1ParseError("chunk extensions too large");
    }
    const size = parseInt(m[1], 16);
    if (size === 0) {
      // The last-chunk line stays unconsumed: the end event carries it with the trailers.
      this.#state = "trailers";
      this.#trailerStart = this.#pos;
      this.#scanFrom = lf + 1;
      return this.#readTrailers();
    }
    const wire = this.#take(lf + 1 - this.#pos);
    this.#remaining = size;
    this.#state = "chunk-data";
    return { type: "body", wire, data: EMPTY };
  }

  #readChunkDataEnd(): Http1Event | null {
    if (this.#available < 2) {
      if (this.#eof) throw new Http1Truncated("unexpected EOF after chunk data");
      return null;
    }
    if (this.#buf[this.#pos] !== 0x0d || this.#buf[this.#pos + 1] !== 0x0a) {
      throw new Http1ParseError("chunk data must end with CRLF");
    }
    this.#state = "chunk-size";
    return { type: "body", wire: this.#take(2), data: EMPTY };
  }

  /** Trailer section after the last chunk: field lines up to an empty line. */
  #readTrailers(): Http1Event | null {
    const buf = this.#buf;
    let lineStart = this.#scanFrom;
    for (let i = lineStart; i < buf.length; i++) {
      if (buf[i] !== 0x0a) continue;
      const len = i - lineStart;
      if (len === 0 || (len === 1 && buf[lineStart] === 0x0d)) {
        const wire = buf.subarray(this.#trailerStart, i + 1);
        this.#pos = i + 1;
        this.#scanFrom = 0;
        return this.#endMessage(wire);
      }
      if (len > this.limits.maxHeaderLine) throw new Http1ParseError("trailer line too long");
      lineStart = i + 1;
    }
    if (buf.length - this.#trailerStart > this.limits.maxHeaderBytes) {
      throw new Http1ParseError("trailer section too large", 431);
    }
    this.#scanFrom = lineStart;
    if (this.#eof) throw new Http1Truncated("unexpected EOF in trailers");
    return null;
  }
}

/**
 * Whether a field's name is `lowerName` in any case. Names of another length are told apart
 * without a lower-case copy: most fields of a head are not the one looked for.
 */
export function isFieldName(name: string, lowerName: string): boolean {
  return name.length === lowerName.length && name.toLowerCase() === lowerName;
}

/** Values of a header (case-insensitive name), each comma list split and trimmed. */
export function headerValues(head: Http1Head, lowerName: string): string[] {
  const out: string[] = [];
  for (const [n, v] of head.headers) {
    if (isFieldName(n, lowerName)) {
      for (const part of v.split(",")) {
        const t = part.trim();
        if (t) out.push(t);
      }
    }
  }
  return out;
}

/** The first raw value of a header, or undefined. */
export function headerValue(head: Http1Head, lowerName: string): string | undefined {
  for (const [n, v] of head.headers) {
    if (isFieldName(n, lowerName)) return v;
  }
  return undefined;
}

/** Whether a header's comma list holds `token` (lower-case), as `headerValues` would. */
export function hasToken(head: Http1Head, lowerName: string, token: string): boolean {
  for (const [n, v] of head.headers) {
    if (!isFieldName(n, lowerName)) continue;
    // Called several times per proxied request: no list is built unless the value has one.
    if (!v.includes(",")) {
      if (v.trim().toLowerCase() === token) return true;
      continue;
    }
    for (const part of v.split(",")) if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}

function lastCoding(te: string[]): string {
  return te[te.length - 1].toLowerCase();
}

/** Content-Length per RFC 9110 §8.6: a list of identical values is one value; else invalid. */
function contentLength(head: Http1Head): number | null {
  let present = false;
  let length: number | null = null;
  for (const [n, v] of head.headers) {
    if (!isFieldName(n, "content-length")) continue;
    present = true;
    for (const part of v.split(",")) {
      const t = part.trim();
      if (!t) continue;
      const value = Number(t);
      if (!/^\d{1,15}$/.test(t) || (length !== null && value !== length)) {
        throw new Http1ParseError("invalid Content-Length", 400);
      }
      length = value;
    }
  }
  if (!present) return null;
  if (length === null) throw new Http1ParseError("empty Content-Length", 400);
  return length;
}

/** Request body framing (RFC 9112 §6.3), refusing the ambiguous forms used for smuggling. */
function requestFraming(head: Http1Head): { framing: BodyFraming; length: number } {
  const te = headerValues(head, "transfer-encoding");
  if (te.length > 0) {
    if (head.version === "HTTP/1.0") {
      throw new Http1ParseError("Transfer-Encoding in an HTTP/1.0 request");
    }
    if (lastCoding(te) !== "chunked") {
      throw new Http1ParseError("request Transfer-Encoding must end with chunked", 501);
    }
    if (headerValues(head, "content-length").length > 0) {
      throw new Http1ParseError("both Transfer-Encoding and Content-Length");
    }
    return { framing: "chunked", length: -1 };
  }
  const cl = contentLength(head);
  if (cl !== null && cl > 0) return { framing: "length", length: cl };
  return { framing: "none", length: 0 };
}

/** Where the line that ends at the LF `newline` ends without its CR (a lone LF is accepted). */
function lineEnd(text: string, from: number, newline: number): number {
  return newline > from && text.charCodeAt(newline - 1) === 0x0d ? newline - 1 : newline;
}

/** tchar (RFC 9110 §5.6.2), by character code. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/** True when `text[from, to)` is a token (one or more tchar). */
function isToken(text: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

function isSpaceOrTab(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
