import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { ConfigError } from "../config/config_error.ts";
import { isIPv6, joinHostPort, splitHostPort } from "../net/address.ts";
import { BufferedConn } from "../net/buffered_conn.ts";
import { DialError, dialTcp, resolveDestination } from "../net/dial.ts";
import { closeQuietly, writeAll } from "../net/stream.ts";
import type { ConnContext } from "../tunnel/conn_context.ts";
import {
  type DecodedMessage,
  decodeMessage,
  messageText,
  questionFields,
  sameQuestion,
  servfail,
} from "../protocol/dns/message.ts";
import type { Handler, HandlerDeps } from "./handler.ts";

interface Upstream {
  network: "udp" | "tcp";
  host: string;
  port: number;
  /** As records name it (`udp://127.0.0.1:53`), GOST's exchanger string. */
  label: string;
}

/** Largest DNS message over TCP (2-byte length prefix) or UDP (EDNS). */
const MAX_MESSAGE = 65535;

function parseUpstream(text: string, where: ConfigError["where"]): Upstream {
  const m = /^(?:(udp|tcp):\/\/)?(.+)$/.exec(text.trim());
  const network = (m?.[1] ?? "udp") as "udp" | "tcp";
  const { host, port } = splitHostPort(m?.[2] ?? "", 53);
  if (!host || Number.isNaN(port)) {
    throw new ConfigError(
      where,
      `invalid DNS upstream "${text}" (expected udp://host:port or tcp://host:port)`,
    );
  }
  // Joined, as records carry it whole (see `wholeString`).
  return { network, host, port, label: [network, "://", joinHostPort(host, port)].join("") };
}

/**
 * DNS proxy: queries arrive over UDP (one per datagram) or TCP (RFC 1035 §4.2.2: each
 * message behind a 2-byte length) and go to the configured upstream resolvers in order
 * until one answers. Every query is one record with the question and answer as text.
 */
export class DnsHandler implements Handler {
  readonly upstreams: Upstream[];
  readonly timeoutMs: number;

  constructor(readonly deps: HandlerDeps) {
    const md = deps.config.handler.metadata;
    const where = md.whereOf("dns");
    const listed = [...md.stringList("dns"), ...deps.config.forwarder.nodes.map((n) => n.addr)];
    this.upstreams = listed.map((u) => parseUpstream(u, where));
    this.timeoutMs = md.duration("timeout", 5000);
    if (this.upstreams.length === 0) {
      throw new ConfigError(
        { ...deps.config.handler.where, path: `${deps.config.handler.where.path}.metadata.dns` },
        "the dns handler needs upstream resolvers (metadata dns: [udp://host:53, …])",
      );
    }
  }

  /** DNS over TCP: length-prefixed messages, answered in order, until the client closes. */
  async handle(conn: Deno.Conn, ctx: ConnContext): Promise<void> {
    const client = new BufferedConn(conn);
    const release = ctx.closeOnShutdown(client);
    try {
      for (;;) {
        let query: Uint8Array;
        let len: Uint8Array;
        try {
          len = await client.readExact(2, "DNS length");
        } catch {
          return; // closed between messages
        }
        const expected = (len[0] << 8) | len[1];
        try {
          query = await client.readExact(expected, "DNS message");
        } catch {
          // The length prefix promised more than the client sent.
          const rec = ctx.newRecord(false);
          rec.network = "tcp";
          rec.proto = "dns";
          rec.inputBytes = 2;
          rec.err = `dns: connection closed inside a ${expected}-byte message`;
          ctx.emit(rec);
          return;
        }
        const reply = await this.answer(query, ctx, "tcp");
        if (!reply) return;
        const framed = new Uint8Array(2 + reply.length);
        framed[0] = reply.length >> 8;
        framed[1] = reply.length & 0xff;
        framed.set(reply, 2);
        await writeAll(client, framed);
      }
    } finally {
      release();
      closeQuietly(client);
    }
  }

  /** DNS over UDP: one query per datagram. */
  async handleDatagram(data: Uint8Array, ctx: ConnContext, reply: (b: Uint8Array) => void) {
    const answer = await this.answer(data, ctx, "udp");
    if (answer) reply(answer);
  }

  /** Resolves one query and records it; null when the query could not even be parsed. */
  async answer(
    query: Uint8Array,
    ctx: ConnContext,
    network: "udp" | "tcp",
  ): Promise<Uint8Array | null> {
    const rec = ctx.newRecord(false);
    rec.network = network;
    rec.proto = "dns";
    rec.inputBytes = query.length;
    let decoded;
    try {
      decoded = decodeMessage(query);
    } catch (e) {
      rec.err = (e as Error).message;
      ctx.emit(rec);
      return null;
    }
    const fields = questionFields(decoded);
    rec.dns = { ...fields, question: messageText(decoded), answer: "" };
    if (
      this.deps.bypass && fields.class === "IN" &&
      this.deps.bypass.contains(fields.name.replace(/\.$/, ""))
    ) {
      const empty = servfail(decoded);
      empty[3] = empty[3] & 0xf0; // NOERROR with no answer: the name is bypassed
      rec.dns.answer = messageText(decodeMessage(empty));
      rec.outputBytes = empty.length;
      rec.err = "bypass";
      ctx.emit(rec);
      return empty;
    }
    let reply: Uint8Array | null = null;
    const errors: string[] = [];
    for (const up of this.upstreams) {
      rec.host = up.label;
      rec.route = up.label;
      try {
        reply = up.network === "udp"
          ? await this.#udp(up, query, decoded)
          : await this.#tcp(up, query);
        break;
      } catch (e) {
        if (e instanceof UpstreamTimeout || (e instanceof DialError && e.timedOut)) {
          ctx.sink.limited("dns-timeout");
        }
        errors.push(`${up.label}: ${(e as Error).message}`);
      }
    }
    if (!reply) {
      reply = servfail(decoded);
      rec.err = errors.join("; ");
    }
    try {
      rec.dns.answer = messageText(decodeMessage(reply));
    } catch (e) {
      rec.err ??= `upstream reply: ${(e as Error).message}`;
    }
    rec.outputBytes = reply.length;
    ctx.emit(rec);
    return reply;
  }

  /**
   * An upstream is configured, but one that is snoop's own DNS listener would send every
   * query round again until the timeouts: the lookup refuses it, as the dial does for TCP.
   */
  async #udp(up: Upstream, query: Uint8Array, decodedQuery: DecodedMessage): Promise<Uint8Array> {
    const [address] = await resolveDestination(up.host, up.port, { self: this.deps.self });
    return await new Promise((resolve, reject) => {
      const socket = dgram.createSocket(isIPv6(address) ? "udp6" : "udp4");
      const id = (query[0] << 8) | query[1];
      let dropped = "";
      const timer = setTimeout(
        () =>
          done(new UpstreamTimeout(dropped ? `timeout (dropped a reply: ${dropped})` : "timeout")),
        this.timeoutMs,
      );
      const done = (err: Error | null, data?: Uint8Array) => {
        clearTimeout(timer);
        socket.close();
        if (err) reject(err);
        else resolve(data!);
      };
      socket.on("error", (e) => done(e));
      socket.on("message", (msg: Buffer, from: { port: number }) => {
        // Only a well-formed reply from the upstream's port, with this query's id and
        // question, ends the exchange; anything else (spoofed, stale) is dropped and the
        // wait goes on, so a spoofed answer cannot end it.
        if (from.port !== up.port || msg.length < 2 || ((msg[0] << 8) | msg[1]) !== id) return;
        const bytes = new Uint8Array(msg);
        try {
          if (!sameQuestion(decodedQuery, decodeMessage(bytes))) {
            dropped = "a different question";
            return;
          }
        } catch (e) {
          dropped = (e as Error).message;
          return;
        }
        done(null, bytes);
      });
      socket.send(Buffer.from(query), up.port, address);
    });
  }

  async #tcp(up: Upstream, query: Uint8Array): Promise<Uint8Array> {
    const conn = new BufferedConn(
      await dialTcp(up.label.slice(6), this.timeoutMs, { self: this.deps.self }),
    );
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      closeQuietly(conn);
    }, this.timeoutMs);
    try {
      const framed = new Uint8Array(2 + query.length);
      framed[0] = query.length >> 8;
      framed[1] = query.length & 0xff;
      framed.set(query, 2);
      await writeAll(conn, framed);
      const len = await conn.readExact(2, "DNS length");
      const n = (len[0] << 8) | len[1];
      if (n > MAX_MESSAGE) throw new Error("reply too large");
      return await conn.readExact(n, "DNS reply");
    } catch (e) {
      throw timedOut ? new UpstreamTimeout("timeout") : e;
    } finally {
      clearTimeout(timer);
      closeQuietly(conn);
    }
  }
}

/** An upstream resolver did not answer within `timeout`. */
class UpstreamTimeout extends Error {}

export const dnsHandler = (deps: HandlerDeps): Handler => new DnsHandler(deps);
