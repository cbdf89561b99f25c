import { joinHostPort, splitHostPort } from "../net/address.ts";
import { headerMap } from "../sniff/http1/headers.ts";
import type { HttpExchange } from "../sniff/exchange.ts";
import type { HandlerRecord } from "./record.ts";
import { wholeString } from "../util/text.ts";

/**
 * The client's IP as the seed shows it: a forwarding header if one says so
 * (`CF-Connecting-IP`, the first `X-Forwarded-For`, `X-Real-Ip`, in GOST's order), else
 * the address the connection came from.
 */
export function clientIPFrom(headers: [string, string][], fallback: string): string {
  const get = (name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1]?.trim();
  const ip = get("cf-connecting-ip") || get("x-forwarded-for")?.split(",")[0].trim() ||
    get("x-real-ip");
  return ip ? wholeString(ip) : fallback;
}

/** `Host` as a record's `host`: with the scheme's default port when it has none. */
export function hostWithPort(authority: string, defaultPort: number): string {
  const { host, port } = splitHostPort(authority);
  return joinHostPort(host, Number.isNaN(port) ? defaultPort : port);
}

/**
 * The record of one sniffed request: the connection's record with the exchange's `http`
 * section, host, byte counts and timing (GOST copies the connection object per request).
 */
export function exchangeRecord(
  base: HandlerRecord,
  ex: HttpExchange,
  defaultPort: number,
): HandlerRecord {
  const { startMs: _unused, ...rest } = base as HandlerRecord & { startMs?: number };
  return {
    ...rest,
    host: ex.authority ? hostWithPort(ex.authority, defaultPort) : base.host,
    proto: base.proto === "tls" ? "tls" : "http",
    clientIP: clientIPFrom(ex.requestHeaders, base.clientIP),
    http: {
      host: wholeString(ex.authority),
      method: ex.method,
      proto: ex.proto,
      scheme: ex.scheme,
      uri: wholeString(ex.uri),
      statusCode: ex.status,
      request: ex.requestBody.fill({
        contentLength: 0,
        header: headerMap(ex.requestHeaders, true),
        body: null,
      }),
      response: ex.responseBody.fill({
        contentLength: 0,
        header: ex.responseHeaders ? headerMap(ex.responseHeaders) : null,
        body: null,
      }),
    },
    inputBytes: ex.inputBytes,
    outputBytes: ex.outputBytes,
    err: ex.error,
    time: ex.startNanos,
    duration: Math.round(((ex.endMs || ex.startMs) - ex.startMs) * 1e6),
  };
}
