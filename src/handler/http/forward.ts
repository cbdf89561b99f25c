import { joinHostPort } from "../../net/address.ts";
import { type BufferedConn, ReadTimeout } from "../../net/buffered_conn.ts";
import { dialUpstream } from "../../net/chain/dialer.ts";
import { dialTimingsOf } from "../../net/dial.ts";
import { monotonicMs } from "../../record/time.ts";
import { closeQuietly, type Stream, writeAll } from "../../net/stream.ts";
import { framingFields, serializeHead, stripHopByHop } from "../../protocol/http1/headers.ts";
import { MessageReader } from "../../protocol/http1/message_reader.ts";
import {
  hasToken,
  headerValue,
  type Http1Event,
  Http1ParseError,
  Http1Parser,
  Http1Truncated,
  isFieldName,
} from "../../protocol/http1/parser.ts";
import type { BodyCapture } from "../../record/body_capture.ts";
import type { ConnContext } from "../../tunnel/conn_context.ts";
import { wholeString } from "../../util/text.ts";
import { originForm } from "../origin_form.ts";
import { countParseError, ProxyFailure, statusForDialError } from "./errors.ts";
import { ForwardExchange, PooledUpstream, type Rec, type RequestHead } from "./exchange.ts";
import type { HttpHandler } from "./handler.ts";
import { relayResponse } from "./response.ts";
import { exchangeInterim } from "../../tunnel/interim.ts";

/**
 * Forwards one absolute-URI request and its response. Returns whether the client
 * connection can carry another request.
 */
export async function forward(
  h: HttpHandler,
  client: BufferedConn,
  reader: MessageReader,
  { head, framing, bodyLength, headBytes, replayOf }: RequestHead,
  ctx: ConnContext,
): Promise<boolean> {
  const rec = ctx.newRecord(false);
  if (replayOf) rec.replayOf = replayOf;
  rec.proto = "http";
  rec.inputBytes = headBytes;
  let url: URL | undefined;
  try {
    url = new URL(head.target);
  } catch { /* origin-form or garbage: refused below */ }
  const hostHeader = headerValue(head, "host");
  rec.http = h.httpRecord(head, url ? url.protocol.replace(/:$/, "") : "", hostHeader ?? "");
  const fail = (f: ProxyFailure) => h.reject(client, ctx, rec, f.status, f.message, f.extra);
  if (h.deps.auth && !(await h.authorize(head, rec))) {
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
  if (h.deps.bypass?.contains(target)) {
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

  const ex = new ForwardExchange(
    ctx,
    client,
    reader,
    rec,
    target,
    clientWantsClose,
    framing,
    h.deps.sink.capture,
  );
  let upstream: Deno.TcpConn | undefined;
  let connection: PooledUpstream | undefined;
  // A request without a body: its end event is parsed already. Taking it here spares a
  // body task and a race per request (most proxied requests are GETs).
  if (ex.bodyFinished) reader.parser.next();
  // A pooled connection the origin closed while idle fails before any response byte:
  // a request without a body is then retried once on a fresh connection.
  for (let attempt = 0;; attempt++) {
    const pooled = attempt === 0 ? h.pool.take(target) : undefined;
    try {
      if (pooled) connection = pooled;
      else {
        h.deps.sink.dial(hostname);
        const dialStart = monotonicMs();
        // Refuses (403) snoop's own listeners and egress denials, by address.
        const conn = await dialUpstream(h.deps, target, h.opts.dialTimeoutMs, {
          self: h.deps.self,
          egress: h.opts.egress,
        });
        // Through a chain, connect is the whole dial after the first hop's lookup.
        const dns = dialTimingsOf(conn)?.dns ?? 0;
        ex.dial = { dns, connect: monotonicMs() - dialStart - dns };
        connection = new PooledUpstream(
          conn,
          new MessageReader(conn, new Http1Parser("response", h.limits)),
        );
      }
      upstream = connection.conn;
      // Through a chain (pooled or not), the route names the upstream proxies.
      rec.route = h.deps.dialer?.routeOf(upstream) ?? rec.route;
    } catch (e) {
      h.deps.sink.dialError(hostname, e);
      await fail(new ProxyFailure(statusForDialError(e), (e as Error).message));
      return false;
    }
    rec.src = connection.src;
    rec.dst = connection.dst;
    ex.sentMs = monotonicMs();
    const upstreamReader = connection.reader;
    upstreamReader.parser.expectResponseTo(head.method);
    try {
      await writeAll(upstream, upstreamHead);
      if (attempt === 0 && !ex.bodyFinished) {
        ex.bodyDone = sendBody(reader, upstream, ex.reqBody, rec).then(() => {
          ex.bodyFinished = true;
        });
      }
      // A malformed request body ends the exchange at once (400), rather than leaving
      // the origin waiting for the rest and the client for a 504.
      let first: Http1Event | null = framing === "none"
        ? await connection.readWithin(h.opts.readTimeoutMs)
        : await Promise.race([
          connection.readWithin(h.opts.readTimeoutMs),
          ex.bodyDone.then(() => new Promise<never>(() => {}), (e) => {
            if (e instanceof Http1ParseError && !(e instanceof Http1Truncated)) {
              throw new ProxyFailure(e.status, `bad request body: ${e.message}`);
            }
            return new Promise<never>(() => {}); // a client gone: the upstream read decides
          }),
        ]);
      if (first) {
        const relaying = relayResponse(h, ex, connection, first);
        first = null; // a view of the reader's buffer: not kept while an upgrade lasts
        // `sniffing.interval`: a response still streaming is reported so far.
        const interim = exchangeInterim(h.deps.sink, rec, h.opts.intervalMs);
        try {
          return await relaying;
        } finally {
          interim?.stop();
        }
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
      await ex.bodyDone.catch((e) => e instanceof Http1ParseError && countParseError(ctx, e));
      await fail(failure);
      return false;
    }
  }
}

/** Copies the request body verbatim (chunk framing included) to the upstream. */
async function sendBody(reader: MessageReader, upstream: Stream, body: BodyCapture, rec: Rec) {
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
