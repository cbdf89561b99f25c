import { closeQuietly, writeAll } from "../../net/stream.ts";
import { monotonicMs } from "../../record/time.ts";
import {
  framingFields,
  headerMap,
  headText,
  joinWire,
  stripHopByHop,
} from "../../protocol/http1/headers.ts";
import {
  hasToken,
  type Http1Event,
  type Http1Head,
  Http1ParseError,
} from "../../protocol/http1/parser.ts";
import { isBenignDisconnect, runTunnel } from "../tunnel.ts";
import { isEventStreamResponse, SseEvents } from "../../sniff/sse/events.ts";
import { countParseError, ProxyFailure } from "./errors.ts";
import type { ForwardExchange, PooledUpstream } from "./exchange.ts";
import type { HttpHandler } from "./handler.ts";

/**
 * Relays the upstream's response to `ex` to the client, from its first event on: interim
 * responses straight through, the final head with the framing snoop writes from its own
 * parse, the body as it arrives. After a 101 both connections become a tunnel. Returns
 * whether the client connection can carry another request; the upstream connection goes
 * back to the pool when it can carry another too.
 */
export async function relayResponse(
  h: HttpHandler,
  ex: ForwardExchange,
  connection: PooledUpstream,
  firstEvent: Http1Event | null,
): Promise<boolean> {
  const { rec, ctx, client } = ex;
  const { conn: upstream, reader: upstreamReader } = connection;
  const http = rec.http!;
  let ev: Http1Event | null = firstEvent;
  // Not kept for the life of an upgraded connection: it views the reader's buffer.
  firstEvent = null;
  let closeAfter = ex.clientWantsClose;
  let upstreamReusable = true;
  let switched = false;
  let finalHead: Http1Head | undefined;
  /** The response's events, when it is an event stream and `sniffing.sse` is on. */
  let sse: SseEvents | undefined;
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
        ex.firstByteMs ||= monotonicMs();
        const head = ev.head;
        if (head.status >= 100 && head.status < 200 && head.status !== 101) {
          // 100 Continue and other interim responses go straight through; the final
          // response follows after the interim one's (empty) end.
          await toClient(headText(`HTTP/1.1 ${head.status} ${head.reason}`, []));
          await flush();
          const end = await connection.readWithin(h.opts.readTimeoutMs);
          if (end?.type !== "end") throw new ProxyFailure(502, "bad interim response");
          ev = await connection.readWithin(h.opts.readTimeoutMs);
          continue;
        }
        finalHead = head;
        http.statusCode = head.status;
        if (h.deps.sink.recording) http.response.header = headerMap(head.headers);
        if (h.opts.sse && h.deps.sink.recording && isEventStreamResponse(head.headers)) {
          sse = new SseEvents(rec, h.deps.sink, h.opts.sseSampleRate);
        }
        switched = head.status === 101;
        const upstreamClose = hasToken(head, "connection", "close") ||
          (head.version === "HTTP/1.0" && !hasToken(head, "connection", "keep-alive"));
        if (upstreamClose || ev.framing === "close") upstreamReusable = false;
        if (ev.framing === "close") closeAfter = true;
        const out = stripHopByHop(head.headers, { keepUpgrade: switched });
        out.push(...framingFields(ev.framing, ev.length, ev.declaredLength, head.status));
        if (!switched) {
          if (closeAfter) out.push(["Connection", "close"]);
          else if (http.proto === "HTTP/1.0") out.push(["Connection", "keep-alive"]);
        }
        await toClient(headText(`HTTP/1.1 ${head.status} ${head.reason}`, out));
      } else if (ev.type === "body") {
        ex.respBody.add(ev.data);
        sse?.data(ev.data);
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
    ex.reqBody.fill(http.request);
    ex.respBody.fill(http.response);
    rec.timings = ex.timings();
    ctx.emit(rec);
    return false;
  }
  if (!finalHead) throw new ProxyFailure(502, "upstream closed the connection before responding");

  if (switched) {
    // 101: both sides now speak another protocol (WebSocket…) over these connections.
    await ex.bodyDone.catch(() => {});
    const early = upstreamReader.parser.takeBuffered();
    await toClient(early);
    await flush();
    client.unread(ex.clientReader.parser.takeBuffered());
    ex.clientReader.release();
    upstreamReader.release();
    http.request.contentLength = ex.reqBody.total;
    await runTunnel(ctx, client, upstream, rec, h.opts, true);
    return false;
  }

  if (!ex.bodyFinished) {
    // The origin answered before the request body was complete: this connection cannot
    // be reused on either side (the rest of the body is in flight).
    closeAfter = true;
    upstreamReusable = false;
    closeQuietly(upstream);
  }
  await ex.bodyDone.catch((e) => {
    if (e instanceof Http1ParseError) countParseError(ctx, e);
    if (!rec.err && !isBenignDisconnect(e)) rec.err = (e as Error).message;
  });
  ex.reqBody.fill(http.request);
  ex.respBody.fill(http.response);
  if (clientGone) rec.err ??= "client closed the connection during the response";
  rec.timings = ex.timings();
  ctx.emit(rec);
  if (upstreamReusable && !clientGone && upstreamReader.parser.idle) {
    // Its reader goes along: the parser and read buffer serve the next request too.
    upstreamReader.shrink();
    h.pool.put(ex.target, connection);
  } else closeQuietly(upstream);
  return !closeAfter && !clientGone;
}
