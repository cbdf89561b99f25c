import { splitHostPort } from "../../net/address.ts";
import type { BufferedConn } from "../../net/buffered_conn.ts";
import { dialUpstream } from "../../net/chain/dialer.ts";
import { dialTimingsOf } from "../../net/dial.ts";
import { monotonicMs } from "../../record/time.ts";
import { closeQuietly, writeAll } from "../../net/stream.ts";
import { headerMap, serializeHead } from "../../protocol/http1/headers.ts";
import type { MessageReader } from "../../protocol/http1/message_reader.ts";
import type { ConnContext } from "../../tunnel/conn_context.ts";
import { wholeString } from "../../util/text.ts";
import { runTunnel } from "../tunnel.ts";
import { statusForDialError } from "./errors.ts";
import { ms, type RequestHead } from "./exchange.ts";
import type { HttpHandler } from "./handler.ts";

/**
 * CONNECT: checks the target, dials it, answers 200 and runs the tunnel. The record is the
 * tunnel's (or the sniffer's records, with sniffing on).
 */
export async function connect(
  h: HttpHandler,
  client: BufferedConn,
  reader: MessageReader,
  { head, headBytes, replayOf }: RequestHead,
  ctx: ConnContext,
): Promise<void> {
  const rec = ctx.newRecord(false);
  if (replayOf) rec.replayOf = replayOf;
  rec.proto = "http";
  rec.host = wholeString(head.target);
  rec.route = rec.host;
  rec.inputBytes = headBytes;
  rec.http = h.httpRecord(head, "", head.target);
  // The CONNECT has no body: its end event follows at once.
  await reader.next();
  if (h.deps.auth && !(await h.authorize(head, rec))) {
    return h.reject(client, ctx, rec, 407, "proxy authentication required", [
      ["Proxy-Authenticate", 'Basic realm="snoop"'],
    ]);
  }
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):\d{1,5}$/.test(head.target)) {
    return h.reject(client, ctx, rec, 400, `invalid CONNECT target "${head.target}"`);
  }
  if (h.deps.bypass?.contains(head.target)) {
    return h.reject(client, ctx, rec, 403, "bypass");
  }
  const host = splitHostPort(head.target).host;
  let upstream: Deno.TcpConn;
  try {
    h.deps.sink.dial(host);
    const dialStart = monotonicMs();
    // The dial refuses (403) snoop's own listeners and egress denials, by address.
    upstream = await dialUpstream(h.deps, head.target, h.opts.dialTimeoutMs, {
      self: h.deps.self,
      egress: h.opts.egress,
    }, rec);
    // Through a chain, connect is the whole dial after the first hop's lookup.
    const dns = dialTimingsOf(upstream)?.dns ?? 0;
    rec.timings = { dns: ms(dns), connect: ms(monotonicMs() - dialStart - dns), tls: 0 };
  } catch (e) {
    h.deps.sink.dialError(host, e);
    return h.reject(client, ctx, rec, statusForDialError(e), (e as Error).message);
  }
  const fields: [string, string][] = [["Proxy-Agent", h.proxyAgent]];
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
  await runTunnel(ctx, client, upstream, rec, h.opts);
}
