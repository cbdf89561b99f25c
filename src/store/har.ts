import { splitHostPort } from "../net/address.ts";
import { VERSION } from "../version.ts";
import type { ParsedRecord } from "../record/parsed_record.ts";

/**
 * HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) from GOST records: one entry per
 * HTTP request record (CONNECT tunnels, TLS, DNS and WebSocket frames have no HAR form).
 */
const pairs = (h: Record<string, string[]> | null | undefined) =>
  Object.entries(h ?? {}).flatMap(([name, values]) => values.map((value) => ({ name, value })));

function firstHeader(h: Record<string, string[]> | null | undefined, name: string): string {
  const key = Object.keys(h ?? {}).find((k) => k.toLowerCase() === name);
  return key ? h![key][0] : "";
}

/** The request URL: the absolute URI as sent, else scheme://host + path. */
export function requestUrl(r: ParsedRecord): string {
  const http = r.http;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(http.uri)) return http.uri;
  const scheme = http.scheme || (r.proto === "tls" ? "https" : "http");
  return `${scheme}://${http.host || r.host}${http.uri}`;
}

/** The number of bytes a base64 string holds. */
function base64Bytes(b64: string): number {
  const pad = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

/**
 * What HAR says of a captured body: its size is the message's real one; when the capture kept
 * less (`http.maxBodySize`, the capture budget), `comment` and `_truncated` say so, since HAR
 * has no field for a cut body and a reader would otherwise take the text for the whole.
 */
function bodyNote(msg: ParsedRecord["http"]["request"]): { comment?: string; truncated: boolean } {
  const size = msg?.contentLength ?? 0;
  const kept = msg?.body ? base64Bytes(msg.body) : 0;
  if (!msg?.body || kept >= size) return { truncated: false };
  return { comment: `body truncated: ${kept} of ${size} bytes captured`, truncated: true };
}

/**
 * The origin's address for HAR's `serverIPAddress`: the record's `dst` without its port,
 * left out when there is none (a dial that failed) rather than given as "".
 */
function serverIP(r: ParsedRecord): { serverIPAddress?: string } {
  const ip = splitHostPort(String(r.dst ?? "")).host;
  return ip ? { serverIPAddress: ip } : {};
}

export function toHar(records: ParsedRecord[]) {
  const entries = records.filter((r) => r.http && r.http.method !== "CONNECT" && !r.websocket).map(
    (r) => {
      const http = r.http;
      const url = requestUrl(r);
      let query: { name: string; value: string }[] = [];
      try {
        query = [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
      } catch { /* not a URL we can split: no query string */ }
      const reqType = firstHeader(http.request?.header, "content-type");
      const respType = firstHeader(http.response?.header, "content-type") ||
        "application/octet-stream";
      const timeMs = (r.duration ?? 0) / 1e6;
      const reqNote = bodyNote(http.request);
      const respNote = bodyNote(http.response);
      return {
        startedDateTime: new Date(Date.parse(r.time)).toISOString(),
        time: timeMs,
        request: {
          method: http.method,
          url,
          httpVersion: http.proto,
          cookies: [],
          headers: pairs(http.request?.header),
          queryString: query,
          ...(http.request?.body
            ? {
              postData: {
                mimeType: reqType,
                text: http.request.body,
                encoding: "base64",
                ...(reqNote.comment ? { comment: reqNote.comment } : {}),
              },
            }
            : {}),
          headersSize: -1,
          bodySize: http.request?.contentLength ?? -1,
          _truncated: reqNote.truncated,
        },
        response: {
          status: http.statusCode,
          statusText: "",
          httpVersion: http.proto,
          cookies: [],
          headers: pairs(http.response?.header),
          content: {
            size: http.response?.contentLength ?? 0,
            mimeType: respType,
            ...(http.response?.body ? { text: http.response.body, encoding: "base64" } : {}),
            ...(respNote.comment ? { comment: respNote.comment } : {}),
          },
          redirectURL: firstHeader(http.response?.header, "location"),
          headersSize: -1,
          bodySize: http.response?.contentLength ?? -1,
          _truncated: respNote.truncated,
        },
        cache: {},
        timings: { send: 0, wait: timeMs, receive: 0 },
        ...serverIP(r),
        connection: r.sid,
        ...(r.err ? { comment: r.err } : {}),
      };
    },
  );
  return {
    log: { version: "1.2", creator: { name: "snoop", version: VERSION }, pages: [], entries },
  };
}
