import { Buffer } from "node:buffer";
import { joinHostPort } from "../net/address.ts";
import { BufferedConn, ReadTimeout, withDeadline } from "../net/buffered_conn.ts";
import { DialError } from "../net/dial.ts";
import { dialUpstream } from "../net/chain/dialer.ts";
import { closeQuietly, type Stream, writeAll } from "../net/stream.ts";
import { UpstreamPool } from "../net/upstream_pool.ts";
import { BodyCapture } from "../record/body_capture.ts";
import { takeReplayOf } from "../record/replay_of.ts";
import type { HttpRecord } from "../record/record.ts";
import type { ConnContext } from "../tunnel/conn_context.ts";
import { upstreamAddrs } from "../tunnel/conn_context.ts";
import {
  framingFields,
  headerMap,
  headText,
  joinWire,
  serializeHead,
  stripHopByHop,
} from "../protocol/http1/headers.ts";
import { MessageReader } from "../protocol/http1/message_reader.ts";
import {
  type BodyFraming,
  DEFAULT_HTTP1_LIMITS,
  hasToken,
  headerValue,
  type Http1Event,
  type Http1Head,
  type Http1Limits,
  Http1ParseError,
  Http1Parser,
  Http1Truncated,
  isFieldName,
} from "../protocol/http1/parser.ts";
import { wholeString } from "../util/text.ts";
import { VERSION } from "../util/version.ts";
import type { Handler, HandlerDeps } from "./handler.ts";
import { originForm } from "./origin_form.ts";
import { isBenignDisconnect, runTunnel } from "./tunnel.ts";
import { readTunnelOptions, type TunnelOptions } from "../tunnel/tunnel_options.ts";
import { statusText } from "./status_text.ts";

type Rec = ReturnType<ConnContext["newRecord"]>;

/** Why the forward proxy gave up on a request, with the status the client gets. */
class ProxyFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: [string, string][] = [],
    /** False once the upstream answered: the request is then not sent again. */
    readonly retryable = true,
  ) {
    super(message);
  }
}

/**
 * HTTP proxy (RFC 9110 §9.3.6, RFC 9112): CONNECT tunnels, and absolute-URI requests
 * forwarded with keep-alive on both sides. Each forwarded request is one record; a CONNECT
 * is one record for the tunnel, or the sniffer's records when sniffing is on.
 */
export class HttpHandler implements Handler {
  readonly opts: TunnelOptions;
  readonly proxyAgent: string;
  readonly headerTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly limits: Http1Limits;
  readonly pool = new UpstreamPool<PooledUpstream>();

  constructor(readonly deps: HandlerDeps) {
    const md = deps.config.handler.metadata;
    this.opts = readTunnelOptions(md, deps.mitm);
    this.proxyAgent = md.string("proxyAgent", `snoop/${VERSION}`);
    this.headerTimeoutMs = md.duration("headerTimeout", 10_000);
    this.keepAliveMs = md.duration("keepAliveTimeout", 60_000);
    // Message limits; the parser answers 414/431/400 past them.
    const d = DEFAULT_HTTP1_LIMITS;
    this.limits = {
      maxStartLine: md.integer("http.maxRequestLine", d.maxStartLine, 64),
      maxHeaderLine: md.integer("http.maxHeaderLine", d.maxHeaderLine, 64),
      maxHeaderBytes: md.integer("http.maxHeaderBytes", d.maxHeaderBytes, 256),
      maxHeaderCount: md.integer("http.maxHeaders", d.maxHeaderCount, 1),
      maxChunkLine: md.integer("http.maxChunkLine", d.maxChunkLine, 16),
      maxChunkExtensions: md.integer("http.maxChunkExtensions", d.maxChunkExtensions, 0),
      strictHost: d.strictHost,
    };
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
            await this.#reject(client, ctx, null, e.status, e.message);
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
        // upgrade keeps this frame for the tunnel's life (4 KiB per idle tunnel): keep only
        // what is needed.
        const { head, framing } = ev, headBytes = ev.wire.length;
        // A replay sent by the web UI: the field is taken out here, before anything is
        // forwarded or recorded, and only links the records when it carries the secret.
        const replayOf = takeReplayOf(head.headers);
        const bodyLength = { length: ev.length, declared: ev.declaredLength };
        ev = null;
        if (head.method === "CONNECT") {
          await this.#connect(client, reader, head, headBytes, ctx, replayOf);
          return;
        }
        if (
          !(await this.#forward(
            client,
            reader,
            head,
            framing,
            bodyLength,
            headBytes,
            ctx,
            replayOf,
          ))
        ) {
          return;
        }
      }
    } finally {
      release();
      closeQuietly(client);
    }
  }

  /** Checks `Proxy-Authorization: Basic …` against the configured auth. */
  async #authorize(head: Http1Head, rec: Rec): Promise<boolean> {
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
  #httpRecord(head: Http1Head, scheme: string, host: string): HttpRecord {
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
  async #reject(
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

  async #connect(
    client: BufferedConn,
    reader: MessageReader,
    head: Http1Head,
    headBytes: number,
    ctx: ConnContext,
    replayOf?: number,
  ): Promise<void> {
    const rec = ctx.newRecord(false);
    if (replayOf) rec.replayOf = replayOf;
    rec.proto = "http";
    rec.host = wholeString(head.target);
    rec.route = rec.host;
    rec.inputBytes = headBytes;
    rec.http = this.#httpRecord(head, "", head.target);
    // The CONNECT has no body: its end event follows at once.
    await reader.next();
    if (this.deps.auth && !(await this.#authorize(head, rec))) {
      return this.#reject(client, ctx, rec, 407, "proxy authentication required", [
        ["Proxy-Authenticate", 'Basic realm="snoop"'],
      ]);
    }
    if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/.test(head.target)) {
      return this.#reject(client, ctx, rec, 400, `invalid CONNECT target "${head.target}"`);
    }
    if (this.deps.bypass?.contains(head.target)) {
      return this.#reject(client, ctx, rec, 403, "bypass");
    }
    let upstream: Deno.TcpConn;
    try {
      this.deps.sink.dial(hostOf(head.target));
      // The dial refuses (403) snoop's own listeners and egress denials, by address.
      upstream = await dialUpstream(this.deps, head.target, this.opts.dialTimeoutMs, {
        self: this.deps.self,
        egress: this.opts.egress,
      }, rec);
    } catch (e) {
      this.deps.sink.dialError(hostOf(head.target), e);
      return this.#reject(client, ctx, rec, statusForDialError(e), (e as Error).message);
    }
    const fields: [string, string][] = [["Proxy-Agent", this.proxyAgent]];
    const reply = serializeHead("HTTP/1.1 200 Connection established", fields);
    try {
      await writeAll(client, reply);
    } catch (e) {
      closeQuietly(upstream);
      rec.err = (e as Error).message;
      ctx.emit(rec);
      return;
    }
    rec.http.statusCode = 200;
    rec.http.response.header = headerMap(fields);
    rec.outputBytes = reply.length;
    // Bytes the client sent right behind the CONNECT belong to the tunnel.
    client.unread(reader.parser.takeBuffered());
    reader.release();
    await runTunnel(ctx, client, upstream, rec, this.opts);
  }

  /**
   * Forwards one absolute-URI request and its response. Returns whether the client
   * connection can carry another request.
   */
  async #forward(
    client: BufferedConn,
    reader: MessageReader,
    head: Http1Head,
    framing: BodyFraming,
    bodyLength: { length: number; declared: number | null },
    headBytes: number,
    ctx: ConnContext,
    replayOf?: number,
  ): Promise<boolean> {
    const rec = ctx.newRecord(false);
    if (replayOf) rec.replayOf = replayOf;
    rec.proto = "http";
    rec.inputBytes = headBytes;
    const capture = this.deps.sink.capture;
    const reqBody = new BodyCapture(capture.body, capture.maxBodySize);
    const respBody = new BodyCapture(capture.body, capture.maxBodySize);
    let url: URL | undefined;
    try {
      url = new URL(head.target);
    } catch { /* origin-form or garbage: refused below */ }
    const hostHeader = headerValue(head, "host");
    rec.http = this.#httpRecord(head, url ? url.protocol.replace(/:$/, "") : "", hostHeader ?? "");
    const fail = (f: ProxyFailure) => this.#reject(client, ctx, rec, f.status, f.message, f.extra);
    if (this.deps.auth && !(await this.#authorize(head, rec))) {
      await fail(
        new ProxyFailure(407, "proxy authentication required", [
          ["Proxy-Authenticate", 'Basic realm="snoop"'],
        ]),
      );
      return false;
    }
    if (!url || !/^https?:$/.test(url.protocol) || !url.hostname) {
      await fail(new ProxyFailure(400, `not a proxy request: "${head.target}"`));
      return false;
    }
    if (url.protocol !== "http:") {
      await fail(new ProxyFailure(400, "only http:// URLs are forwarded; use CONNECT for https"));
      return false;
    }
    const pathAndQuery = originForm(head.target);
    if (pathAndQuery === null) {
      await fail(new ProxyFailure(400, `malformed request target: ${JSON.stringify(head.target)}`));
      return false;
    }
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const target = joinHostPort(hostname, url.port || "80");
    rec.host = target;
    rec.route = target;
    if (!rec.http.host) rec.http.host = wholeString(url.host);
    if (this.deps.bypass?.contains(target)) {
      await fail(new ProxyFailure(403, "bypass"));
      return false;
    }

    const clientWantsClose = head.version === "HTTP/1.0"
      ? !hasToken(head, "connection", "keep-alive")
      : hasToken(head, "connection", "close");
    const upgrading = hasToken(head, "connection", "upgrade") && !!headerValue(head, "upgrade");
    // The body goes upstream framed exactly as snoop read it: the framing field is written
    // from the parse, never copied (a copy could say something else to the origin).
    const fields = stripHopByHop(head.headers.filter(([n]) => !isFieldName(n, "host")), {
      keepUpgrade: upgrading,
    });
    fields.push(...framingFields(framing, bodyLength.length, bodyLength.declared));
    // An HTTP/1.0 client cannot read chunked: ask the origin in 1.0 so it will not send it.
    const upstreamVersion = head.version === "HTTP/1.0" ? "HTTP/1.0" : "HTTP/1.1";
    if (upstreamVersion === "HTTP/1.0") fields.push(["Connection", "close"]);
    const upstreamHead = serializeHead(
      `${head.method} ${pathAndQuery} ${upstreamVersion}`,
      [["Host", url.host], ...fields],
    );

    let upstream: Deno.TcpConn | undefined;
    let connection: PooledUpstream | undefined;
    let bodyDone: Promise<void> = Promise.resolve();
    let bodyFinished = framing === "none";
    // A request without a body: its end event is parsed already. Taking it here spares a
    // body task and a race per request (most proxied requests are GETs).
    if (bodyFinished) reader.parser.next();
    // A pooled connection the origin closed while idle fails before any response byte:
    // a request without a body is then retried once on a fresh connection.
    for (let attempt = 0;; attempt++) {
      const pooled = attempt === 0 ? this.pool.take(target) : undefined;
      try {
        if (pooled) connection = pooled;
        else {
          this.deps.sink.dial(hostname);
          // Refuses (403) snoop's own listeners and egress denials, by address.
          const conn = await dialUpstream(this.deps, target, this.opts.dialTimeoutMs, {
            self: this.deps.self,
            egress: this.opts.egress,
          });
          connection = new PooledUpstream(
            conn,
            new MessageReader(conn, new Http1Parser("response", this.limits)),
          );
        }
        upstream = connection.conn;
        // Through a chain (pooled or not), the route names the upstream proxies.
        rec.route = this.deps.dialer?.routeOf(upstream) ?? rec.route;
      } catch (e) {
        this.deps.sink.dialError(hostname, e);
        await fail(new ProxyFailure(statusForDialError(e), (e as Error).message));
        return false;
      }
      rec.src = connection.src;
      rec.dst = connection.dst;
      const upstreamReader = connection.reader;
      upstreamReader.parser.expectResponseTo(head.method);
      try {
        await writeAll(upstream, upstreamHead);
        if (attempt === 0 && !bodyFinished) {
          bodyDone = this.#sendBody(reader, upstream, reqBody, rec).then(() => {
            bodyFinished = true;
          });
        }
        // A malformed request body ends the exchange at once (400), rather than leaving
        // the origin waiting for the rest and the client for a 504.
        let first: Http1Event | null = framing === "none"
          ? await this.#readUpstream(upstreamReader, upstream)
          : await Promise.race([
            this.#readUpstream(upstreamReader, upstream),
            bodyDone.then(() => new Promise<never>(() => {}), (e) => {
              if (e instanceof Http1ParseError && !(e instanceof Http1Truncated)) {
                throw new ProxyFailure(e.status, `bad request body: ${e.message}`);
              }
              return new Promise<never>(() => {}); // a client gone: the upstream read decides
            }),
          ]);
        if (first) {
          const relaying = this.#relayResponse(
            client,
            reader,
            connection,
            first,
            { rec, respBody, reqBody, bodyDone, clientWantsClose, target, ctx },
            () => bodyFinished,
          );
          first = null; // a view of the reader's buffer: not kept while an upgrade lasts
          return await relaying;
        }
        throw new ProxyFailure(502, "upstream closed the connection before responding");
      } catch (e) {
        closeQuietly(upstream);
        // Only a connection that failed before answering is tried again: a response the
        // parser refused was an answer, and a second try would send the request twice.
        const retry = pooled && framing === "none" && !(e instanceof ReadTimeout) &&
          !(e instanceof ProxyFailure && !e.retryable) &&
          !(e instanceof Http1ParseError && !(e instanceof Http1Truncated));
        if (retry) continue;
        if (e instanceof ReadTimeout) ctx.sink.limited("upstream-timeout");
        else if (e instanceof Http1ParseError) countParseError(ctx, e, "upstream");
        const failure = e instanceof ProxyFailure
          ? e
          : e instanceof ReadTimeout
          ? new ProxyFailure(504, "timeout waiting for the upstream response")
          : e instanceof Http1ParseError
          ? new ProxyFailure(502, `bad upstream response: ${e.message}`)
          : new ProxyFailure(502, (e as Error).message);
        await bodyDone.catch((e) => e instanceof Http1ParseError && countParseError(ctx, e));
        await fail(failure);
        return false;
      }
    }
  }

  /** Copies the request body verbatim (chunk framing included) to the upstream. */
  async #sendBody(reader: MessageReader, upstream: Stream, body: BodyCapture, rec: Rec) {
    for (;;) {
      const ev = await reader.next();
      if (!ev) throw new Http1Truncated("client closed in the middle of the request body");
      if (ev.type === "body") {
        body.add(ev.data);
        rec.inputBytes += ev.wire.length;
        if (ev.wire.length) await writeAll(upstream, ev.wire);
      } else if (ev.type === "end") {
        rec.inputBytes += ev.wire.length;
        if (ev.wire.length) await writeAll(upstream, ev.wire);
        return;
      }
    }
  }

  /** The first upstream event, within `readTimeout`. */
  #readUpstream(reader: MessageReader, upstream: Stream): Promise<Http1Event | null> {
    return withDeadline(
      this.opts.readTimeoutMs,
      "upstream response header",
      () => reader.next(),
      () => closeQuietly(upstream),
    );
  }

  async #relayResponse(
    client: BufferedConn,
    clientReader: MessageReader,
    connection: PooledUpstream,
    firstEvent: Http1Event | null,
    s: {
      rec: Rec;
      respBody: BodyCapture;
      reqBody: BodyCapture;
      bodyDone: Promise<void>;
      clientWantsClose: boolean;
      target: string;
      ctx: ConnContext;
    },
    bodyFinished: () => boolean,
  ): Promise<boolean> {
    const { rec, ctx } = s;
    const { conn: upstream, reader: upstreamReader } = connection;
    const http = rec.http!;
    let ev: Http1Event | null = firstEvent;
    // Not kept for the life of an upgraded connection: it views the reader's buffer.
    firstEvent = null;
    let closeAfter = s.clientWantsClose;
    let upstreamReusable = true;
    let switched = false;
    let finalHead: Http1Head | undefined;
    /** Whether any byte of the final response was written to the client. */
    let finalSent = false;
    let clientGone = false;
    // Bytes for the client are gathered while the upstream's next event is already buffered
    // and written before waiting on the network: a small response (head and body in one
    // read) is one write, not two (writes dominated the CPU profile of small requests).
    // Views of events stay valid meanwhile: everything gathered is flushed before the
    // reader reads again (into the same buffer).
    const gathered: (string | Uint8Array)[] = [];
    let gatheredBytes = 0;
    const flush = async () => {
      if (gathered.length === 0) return;
      const out = gathered.length === 1 && typeof gathered[0] !== "string"
        ? gathered[0]
        : joinWire(gathered);
      gathered.length = 0;
      gatheredBytes = 0;
      if (clientGone) return;
      if (finalHead) finalSent = true;
      try {
        await writeAll(client, out);
        rec.outputBytes += out.length;
      } catch {
        clientGone = true;
      }
    };
    /** Queues bytes, or a head's text (written as Latin-1), for the client. */
    const toClient = (bytes: string | Uint8Array): Promise<void> | undefined => {
      if (clientGone || bytes.length === 0) return;
      gathered.push(bytes);
      gatheredBytes += bytes.length;
      if (gatheredBytes >= 64 * 1024) return flush();
    };
    /** The upstream's next event: from what is buffered, or after flushing and reading. */
    const nextFromUpstream = async () => {
      const buffered = upstreamReader.parser.next();
      if (buffered) return buffered;
      await flush();
      return await upstreamReader.next();
    };
    try {
      while (ev) {
        if (ev.type === "head") {
          const h = ev.head;
          if (h.status >= 100 && h.status < 200 && h.status !== 101) {
            // 100 Continue and other interim responses go straight through; the final
            // response follows after the interim one's (empty) end.
            await toClient(headText(`HTTP/1.1 ${h.status} ${h.reason}`, []));
            await flush();
            const end = await this.#readUpstream(upstreamReader, upstream);
            if (end?.type !== "end") throw new ProxyFailure(502, "bad interim response");
            ev = await this.#readUpstream(upstreamReader, upstream);
            continue;
          }
          finalHead = h;
          http.statusCode = h.status;
          if (this.deps.sink.recording) http.response.header = headerMap(h.headers);
          switched = h.status === 101;
          const upstreamClose = hasToken(h, "connection", "close") ||
            (h.version === "HTTP/1.0" && !hasToken(h, "connection", "keep-alive"));
          if (upstreamClose || ev.framing === "close") upstreamReusable = false;
          if (ev.framing === "close") closeAfter = true;
          const out = stripHopByHop(h.headers, { keepUpgrade: switched });
          out.push(...framingFields(ev.framing, ev.length, ev.declaredLength, h.status));
          if (!switched) {
            if (closeAfter) out.push(["Connection", "close"]);
            else if (http.proto === "HTTP/1.0") out.push(["Connection", "keep-alive"]);
          }
          await toClient(headText(`HTTP/1.1 ${h.status} ${h.reason}`, out));
        } else if (ev.type === "body") {
          s.respBody.add(ev.data);
          await toClient(ev.wire);
        } else if (ev.type === "end") {
          await toClient(ev.wire);
          break;
        } else break;
        ev = await nextFromUpstream();
      }
      await flush();
    } catch (e) {
      if (!finalHead) throw e;
      if (!finalSent) {
        // Nothing of this response reached the client yet (a bad trailer section or chunk
        // behind a head read in the same read): it gets a 502 instead of a broken message.
        gathered.length = 0;
        if (e instanceof Http1ParseError) countParseError(ctx, e, "upstream");
        throw new ProxyFailure(502, `bad upstream response: ${(e as Error).message}`, [], false);
      }
      await flush(); // what arrived before the failure still goes to the client
      if (e instanceof Http1ParseError) countParseError(ctx, e, "upstream");
      // The response head (and maybe part of its body) already went to the client: no 502
      // can follow. Cut the client off so it sees a short body, and record why.
      closeQuietly(upstream);
      rec.err = `upstream response broken: ${(e as Error).message}`;
      s.reqBody.fill(http.request);
      s.respBody.fill(http.response);
      ctx.emit(rec);
      return false;
    }
    if (!finalHead) throw new ProxyFailure(502, "upstream closed the connection before responding");

    if (switched) {
      // 101: both sides now speak another protocol (WebSocket…) over these connections.
      await s.bodyDone.catch(() => {});
      const early = upstreamReader.parser.takeBuffered();
      await toClient(early);
      await flush();
      client.unread(clientReader.parser.takeBuffered());
      clientReader.release();
      upstreamReader.release();
      http.request.contentLength = s.reqBody.total;
      await runTunnel(ctx, client, upstream, rec, this.opts, true);
      return false;
    }

    if (!bodyFinished()) {
      // The origin answered before the request body was complete: this connection cannot
      // be reused on either side (the rest of the body is in flight).
      closeAfter = true;
      upstreamReusable = false;
      closeQuietly(upstream);
    }
    await s.bodyDone.catch((e) => {
      if (e instanceof Http1ParseError) countParseError(ctx, e);
      if (!rec.err && !isBenignDisconnect(e)) rec.err = (e as Error).message;
    });
    s.reqBody.fill(http.request);
    s.respBody.fill(http.response);
    if (clientGone) rec.err ??= "client closed the connection during the response";
    ctx.emit(rec);
    if (upstreamReusable && !clientGone && upstreamReader.parser.idle) {
      // Its reader goes along: the parser and read buffer serve the next request too.
      upstreamReader.shrink();
      this.pool.put(s.target, connection);
    } else closeQuietly(upstream);
    return !closeAfter && !clientGone;
  }
}

/**
 * Counts a malformed or oversized message (from the client, or the upstream's response) in
 * `snoop_limit_hits_total`; a peer that closed mid-message is a disconnect and not counted.
 */
function countParseError(
  ctx: ConnContext,
  e: Http1ParseError,
  from: "client" | "upstream" = "client",
) {
  if (e instanceof Http1Truncated) return;
  const oversized = e.status === 414 || e.status === 431;
  ctx.sink.limited(
    `${from === "upstream" ? "upstream" : "http"}-${oversized ? "head-size" : "malformed"}`,
  );
}

function hostOf(target: string): string {
  return target.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
}

export const httpHandler = (deps: HandlerDeps): Handler => new HttpHandler(deps);

/** 403 for a destination the egress list denies, 504 for a dial deadline, else 502. */
function statusForDialError(e: unknown): number {
  if (e instanceof DialError && e.denied) return 403;
  return e instanceof DialError && e.timedOut ? 504 : 502;
}

/**
 * An upstream connection with its response reader and its addresses as records show them
 * (formatted once: the pool hands the connection to request after request).
 */
class PooledUpstream {
  readonly src: string;
  readonly dst: string;

  constructor(readonly conn: Deno.TcpConn, readonly reader: MessageReader) {
    ({ src: this.src, dst: this.dst } = upstreamAddrs(conn));
  }

  close(): void {
    closeQuietly(this.conn);
  }
}
