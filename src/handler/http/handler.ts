import { Buffer } from "node:buffer";
import { BufferedConn, ReadTimeout, withDeadline } from "../../net/buffered_conn.ts";
import { closeQuietly, type Stream, writeAll } from "../../net/stream.ts";
import { UpstreamPool } from "../../net/upstream_pool.ts";
import { headerMap, serializeHead } from "../../protocol/http1/headers.ts";
import { MessageReader } from "../../protocol/http1/message_reader.ts";
import {
  headerValue,
  type Http1Event,
  type Http1Head,
  type Http1Limits,
  Http1ParseError,
  Http1Parser,
} from "../../protocol/http1/parser.ts";
import { takeReplayOf } from "../../record/replay_of.ts";
import type { HttpRecord } from "../../record/record.ts";
import type { ConnContext } from "../../tunnel/conn_context.ts";
import type { TunnelOptions } from "../../tunnel/tunnel_options.ts";
import { wholeString } from "../../util/text.ts";
import type { Handler, HandlerDeps } from "../handler.ts";
import { statusText } from "../status_text.ts";
import { connect } from "./connect.ts";
import { countParseError } from "./errors.ts";
import type { PooledUpstream, Rec } from "./exchange.ts";
import { forward } from "./forward.ts";
import { readHttpOptions } from "./metadata.ts";

/**
 * HTTP proxy (RFC 9110 §9.3.6, RFC 9112): CONNECT tunnels (connect.ts), and absolute-URI
 * requests forwarded with keep-alive on both sides (forward.ts, response.ts). Each
 * forwarded request is one record; a CONNECT is one record for the tunnel, or the
 * sniffer's records when sniffing is on.
 */
export class HttpHandler implements Handler {
  readonly opts: TunnelOptions;
  readonly proxyAgent: string;
  readonly headerTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly limits: Http1Limits;
  readonly pool = new UpstreamPool<PooledUpstream>();

  constructor(readonly deps: HandlerDeps) {
    const o = readHttpOptions(deps.config.handler.metadata, deps.mitm);
    this.opts = o.tunnel;
    this.proxyAgent = o.proxyAgent;
    this.headerTimeoutMs = o.headerTimeoutMs;
    this.keepAliveMs = o.keepAliveMs;
    this.limits = o.limits;
  }

  async handle(conn: Deno.Conn, ctx: ConnContext): Promise<void> {
    await this.serve(new BufferedConn(conn), ctx);
  }

  close(): void {
    this.pool.close();
  }

  /** Serves requests on a client connection (the auto handler enters here too). */
  async serve(client: BufferedConn, ctx: ConnContext): Promise<void> {
    const reader = new MessageReader(client, new Http1Parser("request", this.limits));
    let first = true;
    const release = ctx.closeOnShutdown(client);
    try {
      for (;;) {
        let ev: Http1Event | null;
        reader.shrink(); // waiting for a request: no large buffer kept from the last one
        try {
          ev = await withDeadline(
            first ? this.headerTimeoutMs : this.keepAliveMs,
            "request header",
            () => reader.next(),
            () => client.close(),
          );
        } catch (e) {
          if (e instanceof Http1ParseError) {
            countParseError(ctx, e);
            await this.reject(client, ctx, null, e.status, e.message);
          } else if (e instanceof ReadTimeout && first) {
            ctx.sink.limited("header-timeout");
            // Partial or missing first request: GOST records nothing; we record the timeout.
            const rec = ctx.newRecord();
            rec.err = e.message;
            ctx.emit(rec);
          }
          return;
        }
        if (!ev) return; // clean close between requests
        if (ev.type !== "head") return;
        first = false;
        // The event's bytes are a view of the reader's read buffer, and a CONNECT or an
        // upgrade keeps this frame for the tunnel's life: keep only what is needed.
        const { head, framing } = ev, headBytes = ev.wire.length;
        // A replay sent by the web UI: the field is taken out here, before anything is
        // forwarded or recorded, and only links the records when it carries the secret.
        const replayOf = takeReplayOf(head.headers);
        const bodyLength = { length: ev.length, declared: ev.declaredLength };
        ev = null;
        const request = { head, framing, bodyLength, headBytes, replayOf };
        if (head.method === "CONNECT") {
          await connect(this, client, reader, request, ctx);
          return;
        }
        if (!(await forward(this, client, reader, request, ctx))) return;
      }
    } finally {
      release();
      closeQuietly(client);
    }
  }

  /** Checks `Proxy-Authorization: Basic …` against the configured auth. */
  async authorize(head: Http1Head, rec: Rec): Promise<boolean> {
    const auth = this.deps.auth;
    if (!auth) return true;
    const value = headerValue(head, "proxy-authorization") ?? "";
    const m = /^Basic\s+(\S+)$/i.exec(value);
    if (m) {
      let decoded = "";
      try {
        decoded = Buffer.from(m[1], "base64").toString("utf8");
      } catch { /* reported below as a failure */ }
      const colon = decoded.indexOf(":");
      if (colon >= 0) {
        const user = decoded.slice(0, colon);
        if (await auth.verify(user, decoded.slice(colon + 1))) {
          rec.clientID = user;
          return true;
        }
      }
    }
    return false;
  }

  /**
   * The record's `http` part; header maps, and whole copies of the head's slices (see
   * `wholeString`), only when someone records them.
   */
  httpRecord(head: Http1Head, scheme: string, host: string): HttpRecord {
    const recording = this.deps.sink.recording;
    return {
      host: recording ? wholeString(host) : host,
      method: head.method,
      proto: head.version,
      scheme,
      uri: recording ? wholeString(head.target) : head.target,
      statusCode: 0,
      request: {
        contentLength: 0,
        header: recording ? headerMap(head.headers, true) : null,
        body: null,
      },
      response: { contentLength: 0, header: null, body: null },
    };
  }

  /** Answers with a short error response, closes, and records why. */
  async reject(
    client: Stream,
    ctx: ConnContext,
    rec: Rec | null,
    status: number,
    reason: string,
    extra: [string, string][] = [],
  ): Promise<void> {
    const body = new TextEncoder().encode(`${status} ${statusText(status)}: ${reason}\n`);
    const fields: [string, string][] = [
      ["Proxy-Agent", this.proxyAgent],
      ...extra,
      ["Content-Type", "text/plain; charset=utf-8"],
      ["Content-Length", String(body.length)],
      ["Connection", "close"],
    ];
    const head = serializeHead(`HTTP/1.1 ${status} ${statusText(status)}`, fields);
    const bytes = new Uint8Array(head.length + body.length);
    bytes.set(head);
    bytes.set(body, head.length);
    try {
      await writeAll(client, bytes);
    } catch { /* the client is gone; the record still says why */ }
    const r = rec ?? ctx.newRecord();
    if (!r.proto) r.proto = "http";
    if (r.http) {
      r.http.statusCode = status;
      r.http.response.header = headerMap(fields);
      r.http.response.contentLength = body.length;
    }
    r.outputBytes += bytes.length;
    r.err = reason;
    ctx.emit(r);
  }
}

export const httpHandler = (deps: HandlerDeps): Handler => new HttpHandler(deps);
