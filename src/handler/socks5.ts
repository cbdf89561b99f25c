import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import {
  formatIP,
  ipBytes,
  isHostNameText,
  isIPv4,
  isIPv6,
  isLoopbackAddress,
  joinHostPort,
  numericAddress,
  sameAddress,
  splitHostPort,
} from "../net/address.ts";
import { BufferedConn, ReadTimeout, withDeadline } from "../net/buffered_conn.ts";
import { DialError, type DialGuard, isRefusal, resolveWithin } from "../net/dial.ts";
import { dialUpstream } from "../net/chain/dialer.ts";
import { closeQuietly, writeAll } from "../net/stream.ts";
import type { ConnContext } from "../tunnel/conn_context.ts";
import type { Handler, HandlerDeps } from "./handler.ts";
import { runTunnel } from "./tunnel.ts";
import { readTunnelOptions, type TunnelOptions } from "../tunnel/tunnel_options.ts";

/** SOCKS5 reply codes (RFC 1928 §6). */
export const Rep = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

const NO_AUTH = 0x00, USER_PASS = 0x02, NO_ACCEPTABLE = 0xff;
const CMD_CONNECT = 1, CMD_UDP_ASSOCIATE = 3;
const ATYP_IPV4 = 1, ATYP_DOMAIN = 3, ATYP_IPV6 = 4;
/** Datagrams of one association waiting for a name lookup; more are dropped. */
const MAX_UDP_LOOKUPS = 16;

/** A refused handshake; `rep` is the reply to send first, if the client is owed one. */
class SocksError extends Error {
  constructor(message: string, readonly rep?: number) {
    super(message);
  }
}

/**
 * Reads `ATYP | DST.ADDR | DST.PORT` (the address form shared by requests and UDP headers):
 * the target and how many bytes it took.
 */
async function readAddress(conn: BufferedConn): Promise<[string, number]> {
  const atyp = (await conn.readExact(1, "address type"))[0];
  let host: string;
  let size = 1 + 2;
  if (atyp === ATYP_IPV4) {
    host = formatIP(await conn.readExact(4, "IPv4 address"));
    size += 4;
  } else if (atyp === ATYP_IPV6) {
    host = formatIP(await conn.readExact(16, "IPv6 address"));
    size += 16;
  } else if (atyp === ATYP_DOMAIN) {
    const len = (await conn.readExact(1, "domain length"))[0];
    host = domainName(await conn.readExact(len, "domain"));
    size += 1 + len;
  } else throw new SocksError(`address type ${atyp} not supported`, Rep.ADDRESS_TYPE_NOT_SUPPORTED);
  const p = await conn.readExact(2, "port");
  return [joinHostPort(host, (p[0] << 8) | p[1]), size];
}

/**
 * A DST.ADDR domain: 1–255 bytes of letters, digits, `-`, `_` and `.`. Anything else
 * (NUL, `/`, `%`, spaces, 8-bit bytes) is refused before it reaches a resolver or a log
 * line. An IP literal sent as a domain is taken as that address (clients with remote DNS
 * do this), so allow and deny lists see the address itself.
 */
function domainName(name: Uint8Array): string {
  if (name.length === 0) throw new SocksError("empty domain name", Rep.GENERAL_FAILURE);
  const text = String.fromCharCode(...name);
  const ip = ipBytes(text);
  if (ip) return formatIP(ip);
  if (!isHostNameText(text)) {
    throw new SocksError("domain name with a byte outside [A-Za-z0-9._-]", Rep.GENERAL_FAILURE);
  }
  return text.toLowerCase();
}

/** Encodes `ATYP | ADDR | PORT` for a reply or a UDP header. */
export function encodeAddress(host: string, port: number): Uint8Array {
  const ip = ipBytes(host);
  if (ip) {
    return Uint8Array.from([
      ip.length === 4 ? ATYP_IPV4 : ATYP_IPV6,
      ...ip,
      port >> 8,
      port & 0xff,
    ]);
  }
  const name = new TextEncoder().encode(host);
  return Uint8Array.from([ATYP_DOMAIN, name.length, ...name, port >> 8, port & 0xff]);
}

function reply(rep: number, bound?: Deno.Addr): Uint8Array {
  const addr = bound && bound.transport === "tcp"
    ? encodeAddress(bound.hostname, bound.port)
    : encodeAddress("0.0.0.0", 0);
  return Uint8Array.from([5, rep, 0, ...addr]);
}

/** Maps a dial failure to the reply a SOCKS client understands. */
function replyForDialError(e: unknown): number {
  const cause = e instanceof DialError ? e.cause : e;
  if (e instanceof DialError && e.denied) return Rep.NOT_ALLOWED;
  if (e instanceof DialError && e.timedOut) return Rep.TTL_EXPIRED;
  if (cause instanceof Deno.errors.ConnectionRefused) return Rep.CONNECTION_REFUSED;
  if (cause instanceof Deno.errors.NotFound) return Rep.HOST_UNREACHABLE;
  // A name the resolver does not know (node:dns's error code).
  if ((cause as { code?: unknown })?.code === "ENOTFOUND") return Rep.HOST_UNREACHABLE;
  if (cause instanceof Error && /network is unreachable/i.test(cause.message)) {
    return Rep.NETWORK_UNREACHABLE;
  }
  if (cause instanceof Error && /host is unreachable|no route/i.test(cause.message)) {
    return Rep.HOST_UNREACHABLE;
  }
  return Rep.GENERAL_FAILURE;
}

/**
 * SOCKS5 (RFC 1928) with no-auth or username/password (RFC 1929): CONNECT, and
 * UDP ASSOCIATE when the `udp` option is on (GOST's default is off).
 */
export class Socks5Handler implements Handler {
  readonly opts: TunnelOptions;
  readonly udp: boolean;
  readonly handshakeTimeoutMs: number;
  /** The dial (and each UDP datagram) refuses snoop's own listeners and egress denials. */
  readonly guard: DialGuard;

  constructor(readonly deps: HandlerDeps) {
    const md = deps.config.handler.metadata;
    this.opts = readTunnelOptions(md, deps.mitm);
    this.guard = { self: deps.self, egress: this.opts.egress };
    this.udp = md.bool("udp", false);
    this.handshakeTimeoutMs = md.duration("handshakeTimeout", 10_000);
  }

  handle(conn: Deno.Conn, ctx: ConnContext): Promise<void> {
    return this.serve(new BufferedConn(conn), ctx);
  }

  async serve(conn: BufferedConn, ctx: ConnContext): Promise<void> {
    const rec = ctx.newRecord();
    let cmd = 0, target = "";
    try {
      [cmd, target] = await withDeadline(
        this.handshakeTimeoutMs,
        "SOCKS5 handshake",
        () => this.#handshake(conn, rec),
        () => conn.close(),
      );
    } catch (e) {
      if (e instanceof ReadTimeout) ctx.sink.limited("handshake-timeout");
      rec.err = `socks5: ${(e as Error).message}`;
      ctx.emit(rec);
      closeQuietly(conn);
      return;
    }
    rec.host = target;
    rec.route = target;
    if (cmd === CMD_UDP_ASSOCIATE && this.deps.dialer) {
      // Datagrams cannot ride an HTTP CONNECT or SOCKS5 CONNECT tunnel: sent straight,
      // they would leave by a way the chain exists to avoid.
      return this.#fail(
        conn,
        ctx,
        rec,
        Rep.COMMAND_NOT_SUPPORTED,
        "UDP does not go through chains",
      );
    }
    if (cmd === CMD_UDP_ASSOCIATE) return this.#udpAssociate(conn, ctx, rec);
    if (target.endsWith(":0")) return this.#fail(conn, ctx, rec, Rep.NOT_ALLOWED, "port 0");
    if (this.deps.bypass?.contains(target)) {
      return this.#fail(conn, ctx, rec, Rep.NOT_ALLOWED, "bypass");
    }
    let upstream: Deno.TcpConn;
    const host = splitHostPort(target).host;
    try {
      this.deps.sink.dial(host);
      upstream = await dialUpstream(this.deps, target, this.opts.dialTimeoutMs, this.guard, rec);
    } catch (e) {
      this.deps.sink.dialError(host, e);
      return this.#fail(conn, ctx, rec, replyForDialError(e), (e as Error).message);
    }
    try {
      const r = reply(Rep.SUCCEEDED, upstream.localAddr);
      await writeAll(conn, r);
      rec.outputBytes += r.length;
    } catch (e) {
      closeQuietly(upstream);
      return this.#fail(conn, ctx, rec, -1, (e as Error).message);
    }
    await runTunnel(ctx, conn, upstream, rec, this.opts);
  }

  async #fail(
    conn: BufferedConn,
    ctx: ConnContext,
    rec: ReturnType<ConnContext["newRecord"]>,
    rep: number,
    why: string,
  ) {
    if (rep >= 0) await writeAll(conn, reply(rep)).catch(() => {});
    rec.err = why;
    ctx.emit(rec);
    closeQuietly(conn);
  }

  /** Method negotiation, optional sub-negotiation, then the request. Returns [cmd, target]. */
  async #handshake(
    conn: BufferedConn,
    rec: ReturnType<ConnContext["newRecord"]>,
  ): Promise<[number, string]> {
    const [ver, n] = await conn.readExact(2, "greeting");
    rec.inputBytes += 2;
    if (ver !== 5) {
      await writeAll(conn, Uint8Array.of(5, NO_ACCEPTABLE)).catch(() => {});
      throw new SocksError(`bad version ${ver}`);
    }
    if (n === 0) {
      await writeAll(conn, Uint8Array.of(5, NO_ACCEPTABLE)).catch(() => {});
      throw new SocksError("no authentication methods offered");
    }
    const methods = await conn.readExact(n, "methods");
    rec.inputBytes += n;
    const auth = this.deps.auth;
    const method = auth ? USER_PASS : NO_AUTH;
    if (!methods.includes(method)) {
      await writeAll(conn, Uint8Array.of(5, NO_ACCEPTABLE)).catch(() => {});
      throw new SocksError(
        auth ? "client does not offer username/password" : "no acceptable method",
      );
    }
    await writeAll(conn, Uint8Array.of(5, method));
    rec.outputBytes += 2;
    if (auth) {
      // RFC 1929: VER(1)=1 | ULEN | UNAME | PLEN | PASSWD  →  VER | STATUS
      // A malformed sub-negotiation gets a failure status too: the server MUST close then.
      const refuse = async (why: string) => {
        await writeAll(conn, Uint8Array.of(1, 1)).catch(() => {});
        return new SocksError(why);
      };
      const [sub, ulen] = await conn.readExact(2, "auth");
      if (sub !== 1) throw await refuse(`bad auth version ${sub}`);
      if (ulen === 0) throw await refuse("empty username");
      const user = new TextDecoder().decode(await conn.readExact(ulen, "username"));
      const plen = (await conn.readExact(1, "password length"))[0];
      if (plen === 0) throw await refuse("empty password");
      const pass = new TextDecoder().decode(await conn.readExact(plen, "password"));
      rec.inputBytes += 3 + ulen + plen;
      const ok = await auth.verify(user, pass);
      await writeAll(conn, Uint8Array.of(1, ok ? 0 : 1));
      rec.outputBytes += 2;
      if (!ok) throw new SocksError("authentication failed");
      rec.clientID = user;
    }
    // VER | CMD | RSV | ATYP | DST.ADDR | DST.PORT
    const [v, cmd, rsv] = await conn.readExact(3, "request");
    if (v !== 5) throw new SocksError(`bad request version ${v}`);
    if (rsv !== 0) {
      await writeAll(conn, reply(Rep.GENERAL_FAILURE)).catch(() => {});
      throw new SocksError(`reserved byte ${rsv} is not 0`);
    }
    let target: string, addressSize: number;
    try {
      [target, addressSize] = await readAddress(conn);
    } catch (e) {
      if (e instanceof SocksError && e.rep !== undefined) {
        await writeAll(conn, reply(e.rep)).catch(() => {});
      }
      throw e;
    }
    rec.inputBytes += 3 + addressSize;
    if (cmd !== CMD_CONNECT && !(cmd === CMD_UDP_ASSOCIATE && this.udp)) {
      await writeAll(conn, reply(Rep.COMMAND_NOT_SUPPORTED)).catch(() => {});
      throw new SocksError(`command ${cmd} not supported`);
    }
    return [cmd, target];
  }

  /**
   * UDP ASSOCIATE (RFC 1928 §7): datagrams from the client carry
   * `RSV(2) | FRAG | ATYP | DST.ADDR | DST.PORT | DATA`; we send DATA on and wrap replies
   * the same way. The association lives as long as the TCP connection.
   *
   * Each datagram's destination goes through `resolveDestination`, as a CONNECT's does:
   * resolved once, refused when it reaches snoop itself (or this association's own two
   * sockets) or the egress list denies it, and sent to the address checked. A refused
   * datagram is dropped, counted in the record's `err`, and logged at debug.
   */
  async #udpAssociate(
    conn: BufferedConn,
    ctx: ConnContext,
    rec: ReturnType<ConnContext["newRecord"]>,
  ) {
    const local = conn.localAddr as Deno.NetAddr;
    const family = isIPv6(local.hostname) ? "udp6" : "udp4";
    const relay = dgram.createSocket(family);
    const outbound = dgram.createSocket(family);
    let clientAddr: { address: string; port: number } | undefined;
    const clientIP = (conn.remoteAddr as Deno.NetAddr).hostname;
    try {
      await new Promise<void>((resolve, reject) => {
        relay.once("error", reject);
        relay.bind(0, local.hostname, () => resolve());
      });
      await new Promise<void>((resolve) => outbound.bind(0, () => resolve()));
    } catch (e) {
      relay.close();
      outbound.close();
      return this.#fail(conn, ctx, rec, Rep.GENERAL_FAILURE, (e as Error).message);
    }
    const relayAddr = relay.address(), outboundPort = outbound.address().port;
    const relayIP = numericAddress(relayAddr.address);
    const guard: DialGuard = {
      egress: this.guard.egress,
      self: {
        reaches: (ip, port) =>
          !!this.guard.self?.reaches(ip, port) ||
          // A datagram to the relay or the outbound socket would come straight back in.
          ((port === relayAddr.port || port === outboundPort) &&
            (isLoopbackAddress(ip) || (!!relayIP && sameAddress(relayIP, ip)))),
      },
    };
    let refused = 0, firstRefusal = "", lookups = 0, ended = false;
    const inflight = new Set<Promise<void>>();
    const refuse = (target: string, why: string, e?: unknown) => {
      refused++;
      firstRefusal ||= why;
      if (e instanceof DialError) this.deps.sink.dialError(target, e);
      ctx.log.debug("socks5 udp: datagram dropped", { sid: ctx.sid, target, reason: why });
    };
    const forward = async (host: string, port: number, data: Uint8Array) => {
      const target = joinHostPort(host, port);
      if (port === 0) return refuse(target, "port 0");
      if (this.deps.bypass?.contains(target)) return refuse(target, "bypass");
      let addresses: string[];
      try {
        addresses = await resolveWithin(host, port, guard, this.opts.dialTimeoutMs);
      } catch (e) {
        return refuse(target, (e as Error).message, new DialError(target, e, false, isRefusal(e)));
      }
      // The socket's family decides which address it can reach; an IPv6 socket reaches
      // IPv4 through the mapped form.
      const address = family === "udp4"
        ? addresses.find(isIPv4)
        : addresses.map((a) => isIPv4(a) ? `::ffff:${a}` : a)[0];
      if (!address) return refuse(target, `no ${family === "udp4" ? "IPv4" : "IPv6"} address`);
      rec.inputBytes += data.length;
      outbound.send(data, port, address);
    };
    relay.on("message", (msg: Buffer, from: dgram.RemoteInfo) => {
      if (ended || from.address !== clientIP) return; // only the associated client may use it
      clientAddr = { address: from.address, port: from.port };
      const parsed = parseUdpHeader(new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
      if (!parsed || parsed.frag !== 0) return; // fragments are not supported: dropped
      const { host, port } = parsed;
      const isName = !numericAddress(host);
      if (isName) {
        // A name: looked up before sending, a bounded number at a time.
        if (!isHostNameText(host)) {
          return refuse(host, "domain name with a byte outside [A-Za-z0-9._-]");
        }
        if (lookups >= MAX_UDP_LOOKUPS) return refuse(host, "too many lookups in flight");
        lookups++;
      }
      // The data is a view of `msg`, which nothing else holds: it stays valid until sent.
      const task: Promise<void> = forward(host, port, parsed.data)
        .catch((e) => refuse(joinHostPort(host, port), (e as Error).message))
        .finally(() => {
          inflight.delete(task);
          if (isName) lookups--;
        });
      inflight.add(task);
    });
    outbound.on("message", (msg: Buffer, from: dgram.RemoteInfo) => {
      if (!clientAddr) return;
      const header = Uint8Array.from([0, 0, 0, ...encodeAddress(from.address, from.port)]);
      rec.outputBytes += msg.length;
      relay.send(Buffer.concat([header, msg]), clientAddr.port, clientAddr.address);
    });
    relay.on("error", () => {});
    outbound.on("error", () => {});
    const bound = relay.address();
    await writeAll(conn, Uint8Array.from([5, 0, 0, ...encodeAddress(bound.address, bound.port)]));
    rec.network = "udp";
    // The association ends when the client closes the TCP connection.
    const sink = new Uint8Array(512);
    try {
      while ((await conn.read(sink)) !== null) { /* control connection carries no data */ }
    } catch { /* reset: same as close */ }
    // Datagrams still being resolved are sent or refused (each lookup has the dial
    // deadline) before the sockets close and the record counts them.
    ended = true;
    await Promise.allSettled([...inflight]);
    relay.close();
    outbound.close();
    closeQuietly(conn);
    if (refused > 0) rec.err = `${refused} datagram(s) dropped, the first: ${firstRefusal}`;
    ctx.emit(rec);
  }
}

/** Parses a SOCKS5 UDP request header; null when malformed. */
export function parseUdpHeader(
  b: Uint8Array,
): { frag: number; host: string; port: number; data: Uint8Array } | null {
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0) return null;
  const frag = b[2], atyp = b[3];
  let off = 4, host: string;
  if (atyp === ATYP_IPV4) {
    if (b.length < off + 6) return null;
    host = formatIP(b.subarray(off, off + 4));
    off += 4;
  } else if (atyp === ATYP_IPV6) {
    if (b.length < off + 18) return null;
    host = formatIP(b.subarray(off, off + 16));
    off += 16;
  } else if (atyp === ATYP_DOMAIN) {
    const len = b[off];
    if (len === undefined || b.length < off + 1 + len + 2) return null;
    host = new TextDecoder().decode(b.subarray(off + 1, off + 1 + len));
    off += 1 + len;
  } else return null;
  const port = (b[off] << 8) | b[off + 1];
  return { frag, host, port, data: b.subarray(off + 2) };
}

export const socks5Handler = (deps: HandlerDeps): Handler => new Socks5Handler(deps);
