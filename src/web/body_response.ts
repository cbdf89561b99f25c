import { Buffer } from "node:buffer";
import { type BodyDecoder, bodyDecoder, DECODABLE, DecoderBusy } from "./body_decoder.ts";

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

export interface BodyResponseOptions {
  /** Decoded bytes served at most; by default the decoder's (`ui.maxDecodedBody`). */
  maxDecodedBytes?: number;
  /** The decoder to use (tests give their own). */
  decoder?: BodyDecoder;
}

/** A media type's `type/subtype` token pair (RFC 9110 §8.3.1), nothing after it. */
const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;

/**
 * The recorded Content-Type reduced to a plain `type/subtype`: a list of types, parameters
 * or bytes a header cannot hold would otherwise reach the browser as they were recorded
 * (or fail the Response with a 500); anything else is served as opaque bytes.
 */
export function safeMediaType(recorded: string): string {
  const type = recorded.split(";")[0].trim().toLowerCase();
  return MEDIA_TYPE.test(type) ? type : "application/octet-stream";
}

/**
 * The body's own policy. A recorded page opened top-level runs in a sandbox (an opaque origin,
 * no script) and may load nothing: an image or style sheet from its site would tell the site
 * when and from where the user looked at the record.
 */
export const BODY_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/**
 * A body, decoded by its Content-Encoding (in a worker, up to a cap), with its
 * Content-Type. `x-snoop-decoded` says what was done: the encoding undone, `… (truncated at
 * N bytes)` when the decoded body was longer than the cap (then `x-snoop-truncated: 1` too,
 * and the first N bytes are served), or that it could not be decoded and the captured
 * bytes are served (a body cut at `http.maxBodySize` may not decompress).
 */
export async function bodyResponse(
  // deno-lint-ignore no-explicit-any
  rec: any,
  side: "request" | "response",
  opts: BodyResponseOptions = {},
): Promise<Response> {
  const msg = rec?.http?.[side];
  if (!msg) return json({ error: "no such record or no HTTP message" }, 404);
  if (!msg.body || typeof msg.body !== "string") return new Response(null, { status: 204 });
  const header = msg.header && typeof msg.header === "object" ? msg.header : {};
  const get = (name: string) => {
    const key = Object.keys(header).find((k) => k.toLowerCase() === name);
    const values = key ? header[key] : undefined;
    return Array.isArray(values) && values.length ? String(values[0]) : "";
  };
  let bytes: Uint8Array = Buffer.from(msg.body, "base64");
  const encoding = get("content-encoding").trim().toLowerCase();
  let decoded = "identity";
  let truncated = false;
  if (DECODABLE.has(encoding)) {
    const decoder = opts.decoder ?? bodyDecoder;
    try {
      const out = await decoder.decode(encoding, bytes, opts.maxDecodedBytes);
      bytes = out.bytes;
      truncated = out.truncated;
      decoded = truncated ? `${encoding} (truncated at ${bytes.length} bytes)` : encoding;
    } catch (e) {
      if (e instanceof DecoderBusy) {
        return json({ error: e.message }, 503, { "retry-after": "1" });
      }
      decoded = `${encoding} (could not decode; captured bytes shown)`;
    }
  }
  const headers: Record<string, string> = {
    "content-type": safeMediaType(get("content-type")),
    "x-snoop-decoded": decoded,
    "x-content-type-options": "nosniff",
    "content-security-policy": BODY_CSP,
  };
  if (truncated) headers["x-snoop-truncated"] = "1";
  return new Response(new Uint8Array(bytes), { headers });
}
