/**
 * TLS ClientHello / ServerHello reading for the sniffer (RFC 8446 §4.1.2, §4.1.3).
 *
 * The hello is reassembled across TCP reads and across TLS records: a record is
 *   type(1)=22 | legacy_version(2) | length(2) | fragment
 * and the fragments concatenate into handshake messages:
 *   msg_type(1) | length(3) | body
 * The reader keeps every record byte it consumed (`raw`, GOST's `clientHello` hex) and
 * answers one of: need more bytes, the parsed hello, or invalid (with why).
 */

import { isHostNameText } from "../../net/address.ts";

/** A malformed hello field: the hello is rejected (the bytes still flow as they are). */
export class HelloError extends Error {}

export interface ClientHello {
  legacyVersion: number;
  serverName: string;
  /** ALPN protocols offered, in order. */
  alpn: string[];
  cipherSuites: number[];
  /** From supported_versions, as sent (GREASE values left out); empty when absent. */
  supportedVersions: number[];
  /** An encrypted_client_hello extension (0xfe0d) was offered: the SNI is the outer one. */
  ech: boolean;
}

export interface ServerHello {
  /** The negotiated version: supported_versions if present, else legacy_version. */
  version: number;
  cipherSuite: number;
  compressionMethod: number;
  /** Selected ALPN (visible before TLS 1.3 only; 1.3 sends it encrypted). */
  alpn: string;
}

export type HelloResult<T> =
  | { status: "more" }
  | { status: "done"; hello: T; raw: Uint8Array }
  | { status: "invalid"; reason: string };

/** Largest hello accepted (Envoy's tls_inspector cap): a peer cannot make us buffer more. */
export const MAX_HELLO_BYTES = 64 * 1024;

export class HelloReader<T> {
  #raw = new Uint8Array(1024);
  #rawLen = 0;
  #recordsEnd = 0;
  #handshake: number[] = [];
  #result: HelloResult<T> = { status: "more" };

  constructor(
    readonly msgType: 1 | 2,
    readonly parseBody: (body: Uint8Array) => T,
    readonly cap = MAX_HELLO_BYTES,
  ) {}

  get result(): HelloResult<T> {
    return this.#result;
  }

  push(chunk: Uint8Array): HelloResult<T> {
    if (this.#result.status !== "more") return this.#result;
    const room = this.cap - this.#rawLen;
    if (chunk.length > room) chunk = chunk.subarray(0, room);
    if (this.#rawLen + chunk.length > this.#raw.length) {
      const grown = new Uint8Array(
        Math.min(this.cap, Math.max(this.#raw.length * 2, this.#rawLen + chunk.length)),
      );
      grown.set(this.#raw.subarray(0, this.#rawLen));
      this.#raw = grown;
    }
    this.#raw.set(chunk, this.#rawLen);
    this.#rawLen += chunk.length;
    this.#result = this.#scan();
    if (this.#result.status === "more" && this.#rawLen >= this.cap) {
      this.#result = { status: "invalid", reason: `hello larger than ${this.cap} bytes` };
    }
    return this.#result;
  }

  #scan(): HelloResult<T> {
    const raw = this.#raw;
    while (this.#rawLen - this.#recordsEnd >= 5) {
      const at = this.#recordsEnd;
      const type = raw[at];
      if (type !== 22) {
        return {
          status: "invalid",
          reason: type === 21 ? "TLS alert" : `not a handshake record (type ${type})`,
        };
      }
      // legacy_record_version: 0x0301 (allowed in a first ClientHello) to 0x0303 (RFC 8446 §5.1).
      if (raw[at + 1] !== 3 || raw[at + 2] < 1 || raw[at + 2] > 3) {
        return { status: "invalid", reason: "bad record version" };
      }
      const len = (raw[at + 3] << 8) | raw[at + 4];
      // A plaintext fragment is at most 2^14 bytes; zero-length handshake fragments are forbidden.
      if (len === 0 || len > 16384 + 256) {
        return { status: "invalid", reason: `bad record length ${len}` };
      }
      if (this.#rawLen - at - 5 < len) return { status: "more" };
      for (let i = 0; i < len; i++) this.#handshake.push(raw[at + 5 + i]);
      this.#recordsEnd = at + 5 + len;
      const hs = this.#handshake;
      if (hs.length >= 1 && hs[0] !== this.msgType) {
        return { status: "invalid", reason: `unexpected handshake message ${hs[0]}` };
      }
      if (hs.length >= 4) {
        const msgLen = (hs[1] << 16) | (hs[2] << 8) | hs[3];
        if (msgLen + 4 > this.cap) return { status: "invalid", reason: "hello too large" };
        if (hs.length >= msgLen + 4) {
          try {
            const hello = this.parseBody(Uint8Array.from(hs.slice(4, 4 + msgLen)));
            return { status: "done", hello, raw: raw.slice(0, this.#recordsEnd) };
          } catch (e) {
            return { status: "invalid", reason: (e as Error).message };
          }
        }
      }
    }
    return { status: "more" };
  }
}

/** Bounds-checked reads over a handshake body. */
class Cursor {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  need(n: number) {
    if (this.pos + n > this.b.length) throw new HelloError("truncated hello");
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = (this.b[this.pos] << 8) | this.b[this.pos + 1];
    this.pos += 2;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  get left(): number {
    return this.b.length - this.pos;
  }
}

const ascii = (b: Uint8Array) => String.fromCharCode(...b);

/** Extensions block: `uint16 length` then `type(2) | length(2) | data` repeated. */
function readExtensions(c: Cursor, onExt: (type: number, data: Cursor) => void) {
  if (c.left === 0) return; // TLS 1.2 hellos may omit extensions entirely
  const total = c.u16();
  const ext = new Cursor(c.bytes(total));
  while (ext.left > 0) {
    const type = ext.u16();
    const len = ext.u16();
    onExt(type, new Cursor(ext.bytes(len)));
  }
}

/** RFC 8701 GREASE values (0x?A?A) that clients send to keep servers tolerant. */
export const isGrease = (v: number) => (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);

const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
const EXT_PRE_SHARED_KEY = 41;
const EXT_ECH = 0xfe0d;

/**
 * ClientHello body (RFC 8446 §4.1.2):
 *   legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
 *   compression_methods<1..2^8-1> extensions<8..2^16-1> (absent in old hellos)
 * Rejected, as a server would: a field past its length, trailing bytes, duplicate
 * extensions, pre_shared_key not last, and malformed server_name or ALPN lists.
 */
export function parseClientHelloBody(body: Uint8Array): ClientHello {
  const c = new Cursor(body);
  const hello: ClientHello = {
    legacyVersion: c.u16(),
    serverName: "",
    alpn: [],
    cipherSuites: [],
    supportedVersions: [],
    ech: false,
  };
  c.bytes(32); // random
  const sessionIdLength = c.u8();
  if (sessionIdLength > 32) throw new HelloError("session_id longer than 32 bytes");
  c.bytes(sessionIdLength);
  const suitesLength = c.u16();
  if (suitesLength === 0 || suitesLength % 2) {
    throw new HelloError(`bad cipher_suites length ${suitesLength}`);
  }
  const suites = new Cursor(c.bytes(suitesLength));
  while (suites.left >= 2) hello.cipherSuites.push(suites.u16());
  const compressionLength = c.u8();
  if (compressionLength === 0) throw new HelloError("no compression methods");
  c.bytes(compressionLength);
  const seen = new Set<number>();
  readExtensions(c, (type, d) => {
    if (seen.has(EXT_PRE_SHARED_KEY)) {
      throw new HelloError("pre_shared_key is not the last extension");
    }
    if (seen.has(type)) throw new HelloError(`duplicate extension ${type}`);
    seen.add(type);
    if (type === EXT_SERVER_NAME) hello.serverName = parseServerName(d);
    else if (type === EXT_ALPN) hello.alpn = parseAlpn(d);
    else if (type === EXT_SUPPORTED_VERSIONS) {
      const list = new Cursor(d.bytes(d.u8()));
      while (list.left >= 2) {
        const v = list.u16();
        if (!isGrease(v)) hello.supportedVersions.push(v);
      }
    } else if (type === EXT_ECH) hello.ech = true;
  });
  if (c.left) throw new HelloError("bytes after the extensions");
  return hello;
}

/**
 * server_name (RFC 6066 §3): list<1..2^16-1> of name_type(1)=0 | host_name<1..2^16-1>.
 * One host_name, ASCII letters/digits/hyphens/dots, not an IP literal. Returned in lower
 * case without a trailing dot, so it is safe in records, log lines and certificate names.
 */
function parseServerName(d: Cursor): string {
  if (d.left === 0) return ""; // a server's empty acknowledgement form
  const list = new Cursor(d.bytes(d.u16()));
  if (d.left) throw new HelloError("server_name list length mismatch");
  if (list.left === 0) throw new HelloError("empty server_name list");
  let name = "";
  while (list.left > 0) {
    const kind = list.u8();
    const raw = list.bytes(list.u16());
    if (kind !== 0) throw new HelloError(`server_name type ${kind}`);
    if (name) throw new HelloError("two host_name entries");
    if (raw.length === 0 || raw.length > 255) throw new HelloError("bad host_name length");
    const text = ascii(raw);
    if (!isHostNameText(text)) throw new HelloError("host_name with a byte outside [A-Za-z0-9._-]");
    name = text.toLowerCase().replace(/\.$/, "");
    if (!name || name.startsWith(".") || name.includes("..")) {
      throw new HelloError("host_name with an empty label");
    }
    // RFC 6066: "Literal IPv4 and IPv6 addresses are not permitted in HostName."
    if (/^[0-9.]+$/.test(name)) throw new HelloError("host_name is an IP address");
  }
  return name;
}

/** ALPN (RFC 7301 §3.1): list<2..2^16-1> of protocol names<1..2^8-1>, GREASE names dropped. */
function parseAlpn(d: Cursor): string[] {
  const list = new Cursor(d.bytes(d.u16()));
  if (d.left) throw new HelloError("ALPN list length mismatch");
  if (list.left === 0) throw new HelloError("empty ALPN list");
  const protocols: string[] = [];
  while (list.left > 0) {
    const name = list.bytes(list.u8());
    if (name.length === 0) throw new HelloError("empty ALPN protocol name");
    if (name.length === 2 && isGrease((name[0] << 8) | name[1])) continue;
    protocols.push(ascii(name));
  }
  return protocols;
}

export function parseServerHelloBody(body: Uint8Array): ServerHello {
  const c = new Cursor(body);
  const legacy = c.u16();
  c.bytes(32);
  c.bytes(c.u8());
  const hello: ServerHello = {
    version: legacy,
    cipherSuite: c.u16(),
    compressionMethod: c.u8(),
    alpn: "",
  };
  readExtensions(c, (type, d) => {
    if (type === 43 && d.left >= 2) hello.version = d.u16();
    else if (type === 16 && d.left > 0) {
      const list = new Cursor(d.bytes(d.u16()));
      if (list.left > 0) hello.alpn = ascii(list.bytes(list.u8()));
    }
  });
  return hello;
}

export const newClientHelloReader = () => new HelloReader<ClientHello>(1, parseClientHelloBody);
export const newServerHelloReader = () => new HelloReader<ServerHello>(2, parseServerHelloBody);
