import { Buffer } from "node:buffer";
import type { AuthConfig } from "../../config/types.ts";
import { ipBytes, joinHostPort, splitHostPort } from "../address.ts";
import { writeAll } from "../stream.ts";

/**
 * The two ways snoop asks an upstream proxy for a tunnel: HTTP CONNECT (RFC 9110 §9.3.6)
 * and SOCKS5 CONNECT (RFC 1928, with RFC 1929 user/password). Each reads exactly the
 * upstream's answer and nothing past it, so the first bytes the target sends (a server
 * that speaks first) stay in the socket for the relay, and the connection stays a plain
 * `Deno.TcpConn` the handlers use as before.
 */

/** The upstream refused or broke the handshake; `status` is its answer when it gave one. */
export class UpstreamRefused extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "UpstreamRefused";
  }
}

/** The most bytes a CONNECT response head may take; a proxy's is a few hundred. */
export const MAX_CONNECT_RESPONSE = 16 * 1024;

type Conn = Pick<Deno.Conn, "read" | "write">;

async function readExact(conn: Conn, n: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) {
      throw new UpstreamRefused(`the upstream closed the connection during ${what}`);
    }
    off += got;
  }
  return out;
}

/**
 * HTTP CONNECT to `target` (`host:port`; a host name is sent as is, for the upstream to
 * resolve). The response head is read a byte at a time: a read of more could take bytes
 * the target already sent behind it, and the head is small.
 */
export async function httpConnect(conn: Conn, target: string, auth?: AuthConfig): Promise<void> {
  const { host, port } = splitHostPort(target);
  const authority = joinHostPort(host, port);
  let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (auth) {
    const token = Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64");
    head += `Proxy-Authorization: Basic ${token}\r\n`;
  }
  await writeAll(conn, new TextEncoder().encode(head + "\r\n"));
  const buf = new Uint8Array(MAX_CONNECT_RESPONSE);
  const one = new Uint8Array(1);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      throw new UpstreamRefused(`the upstream's CONNECT response head is over ${buf.length} bytes`);
    }
    const got = await conn.read(one);
    if (got === null) {
      throw new UpstreamRefused(
        n === 0
          ? "the upstream closed the connection without answering CONNECT"
          : "the upstream closed the connection in its CONNECT response",
      );
    }
    if (got === 0) continue;
    buf[n++] = one[0];
    // End of head: CRLF CRLF (a bare LF LF is accepted too, as RFC 9112 §2.2 allows).
    if (
      n >= 2 && buf[n - 1] === 0x0a &&
      (buf[n - 2] === 0x0a || (n >= 4 && buf[n - 2] === 0x0d && buf[n - 3] === 0x0a))
    ) break;
  }
  const text = new TextDecoder("latin1").decode(buf.subarray(0, n));
  const status = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?\r?\n/.exec(text);
  if (!status) {
    throw new UpstreamRefused(`the upstream's CONNECT response is not HTTP: ${printable(text)}`);
  }
  const code = Number(status[1]);
  if (code < 200 || code > 299) {
    throw new UpstreamRefused(
      `the upstream answered CONNECT ${authority} with ${code}${
        status[2] ? " " + printable(status[2]) : ""
      }`,
      code,
    );
  }
}

/** At most 80 characters of upstream text, control characters escaped. */
function printable(s: string): string {
  const cut = s.length > 80 ? s.slice(0, 80) + "…" : s;
  // deno-lint-ignore no-control-regex -- escaping them is the point
  return JSON.stringify(cut.replace(/[\x00-\x1f\x7f]+$/, ""));
}

/** RFC 1928 §6 reply codes. */
const SOCKS5_REPLIES: Record<number, string> = {
  1: "general SOCKS server failure",
  2: "connection not allowed by ruleset",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

/**
 * SOCKS5 CONNECT to `target`: greeting (no authentication, or user/password when `auth` is
 * set), then the request with an IPv4, IPv6 or domain-name address (a name goes to the
 * upstream unresolved), then exactly the reply's bytes.
 */
export async function socks5Connect(conn: Conn, target: string, auth?: AuthConfig): Promise<void> {
  const { host, port } = splitHostPort(target);
  const enc = new TextEncoder();
  await writeAll(conn, auth ? Uint8Array.of(5, 2, 0, 2) : Uint8Array.of(5, 1, 0));
  const [ver, method] = await readExact(conn, 2, "the SOCKS5 greeting");
  if (ver !== 5) throw new UpstreamRefused(`the upstream is not a SOCKS5 server (version ${ver})`);
  if (method === 2) {
    if (!auth) throw new UpstreamRefused("the SOCKS5 upstream asks for a password; none is set");
    const user = enc.encode(auth.username), pass = enc.encode(auth.password);
    await writeAll(
      conn,
      Uint8Array.of(1, user.length, ...user, pass.length, ...pass),
    );
    const [, status] = await readExact(conn, 2, "SOCKS5 authentication");
    if (status !== 0) {
      throw new UpstreamRefused("the SOCKS5 upstream refused the user name and password");
    }
  } else if (method === 0xff) {
    throw new UpstreamRefused(
      `the SOCKS5 upstream accepts none of the methods offered (${
        auth ? "none, user/password" : "none"
      })`,
    );
  } else if (method !== 0) {
    throw new UpstreamRefused(`the SOCKS5 upstream chose method ${method}, which was not offered`);
  }
  const ip = ipBytes(host);
  let address: Uint8Array;
  if (ip?.length === 4) address = Uint8Array.of(1, ...ip);
  else if (ip?.length === 16) address = Uint8Array.of(4, ...ip);
  else {
    const name = enc.encode(host);
    if (name.length === 0 || name.length > 255) {
      throw new UpstreamRefused(`"${host}" cannot be sent to a SOCKS5 upstream (1-255 bytes)`);
    }
    address = Uint8Array.of(3, name.length, ...name);
  }
  await writeAll(conn, Uint8Array.of(5, 1, 0, ...address, port >> 8, port & 0xff));
  const reply = await readExact(conn, 4, "the SOCKS5 reply");
  if (reply[0] !== 5) throw new UpstreamRefused(`bad SOCKS5 reply version ${reply[0]}`);
  if (reply[1] !== 0) {
    throw new UpstreamRefused(
      `the SOCKS5 upstream refused CONNECT ${joinHostPort(host, port)}: ${
        SOCKS5_REPLIES[reply[1]] ?? `reply ${reply[1]}`
      }`,
      reply[1],
    );
  }
  // The bound address: its length depends on its type, then two bytes of port.
  const atyp = reply[3];
  const rest = atyp === 1
    ? 4
    : atyp === 4
    ? 16
    : atyp === 3
    ? (await readExact(conn, 1, "the SOCKS5 reply"))[0]
    : -1;
  if (rest < 0) throw new UpstreamRefused(`bad SOCKS5 reply address type ${atyp}`);
  await readExact(conn, rest + 2, "the SOCKS5 reply");
}
