import { Buffer } from "node:buffer";
import zlib from "node:zlib";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** A body, decoded by its Content-Encoding, with its Content-Type. */
// deno-lint-ignore no-explicit-any
export function bodyResponse(rec: any, side: "request" | "response"): Response {
  const msg = rec?.http?.[side];
  if (!msg) return json({ error: "no such record or no HTTP message" }, 404);
  if (!msg.body) return new Response(null, { status: 204 });
  const header = msg.header ?? {};
  const get = (name: string) => {
    const key = Object.keys(header).find((k) => k.toLowerCase() === name);
    return key ? String(header[key][0]) : "";
  };
  let bytes: Uint8Array = Buffer.from(msg.body, "base64");
  const encoding = get("content-encoding").toLowerCase();
  let decoded = "identity";
  try {
    if (encoding === "gzip" || encoding === "x-gzip") bytes = zlib.gunzipSync(bytes);
    else if (encoding === "deflate") bytes = zlib.inflateSync(bytes);
    else if (encoding === "br") bytes = zlib.brotliDecompressSync(bytes);
    else if (encoding === "zstd") bytes = zlib.zstdDecompressSync(bytes);
    if (["gzip", "x-gzip", "deflate", "br", "zstd"].includes(encoding)) decoded = encoding;
  } catch {
    // A body cut at http.maxBodySize may not decompress: serve it as captured.
    decoded = `${encoding} (could not decode; captured bytes shown)`;
  }
  return new Response(new Uint8Array(bytes), {
    headers: {
      "content-type": get("content-type") || "application/octet-stream",
      "x-snoop-decoded": decoded,
      "x-content-type-options": "nosniff",
      "content-security-policy": "sandbox",
    },
  });
}
