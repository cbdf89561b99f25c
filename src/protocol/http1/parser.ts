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
  | {
    type: "head";
    head: Http1Head;
    wire: Uint8Array;
    framing: BodyFraming;
    length: number;
    /**
     * The message's Content-Length as validated, whatever the framing (a HEAD or 304
     * response declares one and has no body), or null without one. A proxy writes its own
     * framing field from `framing`, `length` and this: never the field as it came.
     */
    declaredLength: number | null;
  }
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

/** Defaults as common proxies set them: nginx/Squid line sizes, Envoy/Squid block size. */
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
  /** Trailer fields of the current message so far. */
  #trailerFields = 0;
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

  /** The status a peer gets for a malformed message: 400 for a request, 502 for a response. */
  get #bad(): number {
    return this.kind === "request" ? 400 : 502;
  }

  #startBody(head: Http1Head, wire: Uint8Array): Http1Event {
    this.#extensionBytes = 0;
    const bad = this.#bad;
    checkFramingFields(head, bad);
    const declaredLength = contentLength(head, bad);
    const { framing, length } = this.kind === "request"
      ? requestFraming(head, declaredLength)
      : this.#responseFraming(head, declaredLength);
    const ev: Http1Event = { type: "head", head, wire, framing, length, declaredLength };
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

  #responseFraming(
    head: Http1Head,
    declaredLength: number | null,
  ): { framing: BodyFraming; length: number } {
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
    // RFC 9112 §6.3 would read a response whose Transfer-Encoding does not end in chunked
    // until close, and let Transfer-Encoding override Content-Length. A proxy that relays
    // onto kept-alive connections cannot be sure the origin meant either, so such a
    // response is refused (502), as nginx ("upstream sent unknown Transfer-Encoding", "...
    // Content-Length and Transfer-Encoding at the same time") and Go's client do.
    if (checkTransferEncoding(head, declaredLength, 502)) return { framing: "chunked", length: -1 };
    if (declaredLength !== null) return { framing: "length", length: declaredLength };
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
      this.#trailerFields = 0;
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

  /**
   * Trailer section after the last chunk: field lines up to an empty line, each ending in
   * CRLF (they are part of the chunked framing, where a bare LF is not a line end). The
   * section is forwarded as it came, so each field is checked as a head's would be, and
   * fields that frame, route or manage the connection are refused there (RFC 9110 §6.5.1):
   * a recipient that merged them into the head would see another message.
   */
  #readTrailers(): Http1Event | null {
    const buf = this.#buf;
    let lineStart = this.#scanFrom;
    for (let i: number; (i = buf.indexOf(0x0a, lineStart)) >= 0; lineStart = i + 1) {
      this.#trailerLimits(lineStart, i);
      if (i === lineStart || buf[i - 1] !== 0x0d) {
        throw new Http1ParseError("trailer line must end with CRLF", this.#bad);
      }
      if (i === lineStart + 1) {
        const wire = buf.subarray(this.#trailerStart, i + 1);
        this.#pos = i + 1;
        this.#scanFrom = 0;
        return this.#endMessage(wire);
      }
      if (++this.#trailerFields > this.limits.maxHeaderCount) {
        throw new Http1ParseError("too many trailer fields", 431);
      }
      checkTrailerField(buf, lineStart, i - 1, this.#bad);
    }
    this.#trailerLimits(lineStart, buf.length);
    this.#scanFrom = lineStart;
    if (this.#eof) throw new Http1Truncated("unexpected EOF in trailers");
    return null;
  }

  /**
   * The section's and the line's size caps, checked up to `end` (a line's LF, or the end of
   * what arrived): whichever cap the bytes passed first is the error, so the answer does not
   * depend on how the bytes were split.
   */
  #trailerLimits(lineStart: number, end: number): void {
    const sectionCap = this.#trailerStart + this.limits.maxHeaderBytes;
    const lineCap = lineStart + this.limits.maxHeaderLine;
    const overSection = end > sectionCap, overLine = end > lineCap;
    if (overSection && (!overLine || sectionCap <= lineCap)) {
      throw new Http1ParseError("trailer section too large", 431);
    }
    if (overLine) throw new Http1ParseError("trailer line too long", 431);
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
        const t = trimOWS(part);
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
      if (trimOWS(v).toLowerCase() === token) return true;
      continue;
    }
    for (const part of v.split(",")) if (trimOWS(part).toLowerCase() === token) return true;
  }
  return false;
}

/**
 * `s` without leading and trailing SP and HTAB, the only optional whitespace of HTTP
 * (RFC 9110 §5.6.3). Not `String.prototype.trim`: that also takes VT, FF, NBSP and the
 * Unicode spaces, so `chunked\x0b` or `\xa05` would read as a framing value to snoop while
 * an origin that trims only OWS sees something else.
 */
export function trimOWS(s: string): string {
  let from = 0, to = s.length;
  while (from < to && isSpaceOrTab(s.charCodeAt(from))) from++;
  while (to > from && isSpaceOrTab(s.charCodeAt(to - 1))) to--;
  return from === 0 && to === s.length ? s : s.slice(from, to);
}

/**
 * Fields a `Connection` (or `Proxy-Connection`) option may not name: every hop needs them to
 * frame and route the message. RFC 9110 §7.6.1 forbids a sender to list them; a proxy that
 * obeyed (deleting Content-Length after framing the body by it) would send the body as the
 * next message. Such a message is refused rather than guessed at (RFC 9112 §6.3: framing in
 * doubt means close): nothing real sends it, and an ignored token would still reach an
 * origin or a next proxy that honours it.
 */
const NOT_CONNECTION_OPTIONS = new Set(["content-length", "transfer-encoding", "host"]);

/**
 * Checks the fields every hop frames a message by, before anything reads them: the bytes
 * of Content-Length and Transfer-Encoding (visible ASCII, SP, HTAB; no other control byte,
 * no byte above 0x7E), and `Connection` options that would delete them.
 */
function checkFramingFields(head: Http1Head, bad: number): void {
  for (const [n, v] of head.headers) {
    const framing = isFieldName(n, "content-length") || isFieldName(n, "transfer-encoding");
    if (framing) {
      for (let i = 0; i < v.length; i++) {
        const c = v.charCodeAt(i);
        if ((c < 0x21 || c > 0x7e) && c !== 0x20 && c !== 0x09) {
          throw new Http1ParseError(`invalid character in ${n}`, bad);
        }
      }
    } else if (isFieldName(n, "connection") || isFieldName(n, "proxy-connection")) {
      for (const part of v.split(",")) {
        const option = trimOWS(part).toLowerCase();
        if (NOT_CONNECTION_OPTIONS.has(option)) {
          throw new Http1ParseError(`${n} names ${option}, which frames the message`, bad);
        }
      }
    }
  }
}

/**
 * Content-Length per RFC 9110 §8.6: a list of identical values (in one field or several) is
 * one value; anything else is invalid. Null when the message has none.
 */
function contentLength(head: Http1Head, bad: number): number | null {
  let present = false;
  let length: number | null = null;
  for (const [n, v] of head.headers) {
    if (!isFieldName(n, "content-length")) continue;
    present = true;
    for (const part of v.split(",")) {
      const t = trimOWS(part);
      if (!t) continue;
      const value = Number(t);
      if (!/^\d{1,15}$/.test(t) || (length !== null && value !== length)) {
        throw new Http1ParseError("invalid Content-Length", bad);
      }
      length = value;
    }
  }
  if (!present) return null;
  if (length === null) throw new Http1ParseError("empty Content-Length", bad);
  return length;
}

/**
 * Whether the message is chunked: false without Transfer-Encoding; true for exactly one
 * `Transfer-Encoding: chunked` (any case) on HTTP/1.1 without Content-Length; an error
 * otherwise. Only plain `chunked` is taken, as nginx and Go do: `gzip, chunked` would
 * make snoop forward a body it cannot tell the meaning of, and `chunked, chunked` or
 * `,chunked` are spellings different parsers disagree on. `unknown` is the status for a
 * coding that is not chunked (501 for a request: not implemented).
 */
function checkTransferEncoding(
  head: Http1Head,
  declaredLength: number | null,
  bad: number,
  unknown = bad,
): boolean {
  let te: string | undefined;
  for (const [n, v] of head.headers) {
    if (!isFieldName(n, "transfer-encoding")) continue;
    if (te !== undefined) throw new Http1ParseError("more than one Transfer-Encoding", bad);
    te = v;
  }
  if (te === undefined) return false;
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means its framing is faulty.
  if (head.version === "HTTP/1.0") {
    throw new Http1ParseError(
      `Transfer-Encoding in an HTTP/1.0 ${head.method ? "request" : "response"}`,
      bad,
    );
  }
  if (trimOWS(te).toLowerCase() !== "chunked") {
    throw new Http1ParseError(`unsupported Transfer-Encoding ${JSON.stringify(te)}`, unknown);
  }
  // RFC 9112 §6.1 lets Transfer-Encoding win, but then the proxy and the next hop may
  // disagree on where the message ends: refused, as nginx and Envoy do.
  if (declaredLength !== null) {
    throw new Http1ParseError("both Transfer-Encoding and Content-Length", bad);
  }
  return true;
}

/** Request body framing (RFC 9112 §6.3), refusing the ambiguous forms used for smuggling. */
function requestFraming(
  head: Http1Head,
  declaredLength: number | null,
): { framing: BodyFraming; length: number } {
  if (checkTransferEncoding(head, declaredLength, 400, 501)) {
    return { framing: "chunked", length: -1 };
  }
  if (declaredLength !== null && declaredLength > 0) {
    return { framing: "length", length: declaredLength };
  }
  return { framing: "none", length: 0 };
}

/**
 * Fields a trailer section may not carry (RFC 9110 §6.5.1): framing, routing and
 * connection management, which a recipient that merges trailers into the head would act on.
 */
const FORBIDDEN_TRAILERS = new Set([
  "content-length",
  "transfer-encoding",
  "host",
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "trailer",
  "upgrade",
]);

/**
 * One trailer field line, `buf[from, to)` without its CRLF: `name ":" OWS value OWS` with a
 * token for a name (no whitespace before the colon, no folding) and no control byte but
 * HTAB in the value (NUL, a CR, DEL…).
 */
function checkTrailerField(buf: Uint8Array, from: number, to: number, bad: number): void {
  const colon = buf.indexOf(0x3a, from);
  if (colon <= from || colon >= to) {
    throw new Http1ParseError("malformed trailer field", bad);
  }
  let name = "";
  for (let i = from; i < colon; i++) {
    const c = buf[i];
    if (c >= 128 || TCHAR[c] === 0) throw new Http1ParseError("invalid trailer name", bad);
    name += String.fromCharCode(c);
  }
  for (let i = colon + 1; i < to; i++) {
    const c = buf[i];
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
      throw new Http1ParseError("invalid character in a trailer value", bad);
    }
  }
  const lower = name.toLowerCase();
  if (FORBIDDEN_TRAILERS.has(lower)) {
    throw new Http1ParseError(`${name} is not allowed in trailers`, bad);
  }
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
