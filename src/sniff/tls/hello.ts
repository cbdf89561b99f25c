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

export interface ClientHello {
  legacyVersion: number;
  serverName: string;
  /** ALPN protocols offered, in order. */
  alpn: string[];
  cipherSuites: number[];
  /** From supported_versions, highest first as sent; empty when absent. */
  supportedVersions: number[];
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
      if (raw[at + 1] !== 3) return { status: "invalid", reason: "bad record version" };
      const len = (raw[at + 3] << 8) | raw[at + 4];
      if (len === 0 || len > 16384 + 2048) {
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
    if (this.pos + n > this.b.length) throw new RangeError("truncated hello");
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

export function parseClientHelloBody(body: Uint8Array): ClientHello {
  const c = new Cursor(body);
  const hello: ClientHello = {
    legacyVersion: c.u16(),
    serverName: "",
    alpn: [],
    cipherSuites: [],
    supportedVersions: [],
  };
  c.bytes(32); // random
  c.bytes(c.u8()); // legacy_session_id
  const suites = new Cursor(c.bytes(c.u16()));
  while (suites.left >= 2) hello.cipherSuites.push(suites.u16());
  c.bytes(c.u8()); // compression methods
  readExtensions(c, (type, d) => {
    if (type === 0 && d.left > 0) {
      // server_name: list of (name_type(1), length(2), name); 0 = host_name.
      const list = new Cursor(d.bytes(d.u16()));
      while (list.left > 0) {
        const kind = list.u8();
        const name = list.bytes(list.u16());
        if (kind === 0 && !hello.serverName) hello.serverName = ascii(name);
      }
    } else if (type === 16) {
      // application_layer_protocol_negotiation: list of (length(1), protocol).
      const list = new Cursor(d.bytes(d.u16()));
      while (list.left > 0) hello.alpn.push(ascii(list.bytes(list.u8())));
    } else if (type === 43) {
      const list = new Cursor(d.bytes(d.u8()));
      while (list.left >= 2) hello.supportedVersions.push(list.u16());
    }
  });
  return hello;
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
