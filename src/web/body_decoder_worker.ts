/// <reference lib="deno.worker" />
/**
 * The script of a `BodyDecoder` (body_decoder.ts): undoes one Content-Encoding with
 * node:zlib's streaming decompressors and stops at the output cap. A recorded body is
 * hostile: a 1 MiB gzip body inflates to 1000 MiB, a 63 KiB zstd one to 2000 MiB, so the
 * output is read chunk by chunk and the stream destroyed once the cap is reached, not
 * inflated whole and then cut. Messages are `DecodeRequest` in, `DecodeReply` out, one at a
 * time (the decoder sends the next only after the answer).
 */
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import type { Transform } from "node:stream";
import type { DecodeReply, DecodeRequest } from "./body_decoder.ts";

const DECOMPRESSORS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  "x-gzip": () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
  zstd: () => zlib.createZstdDecompress(),
};

/** The first `maxBytes` of the decoded body, and whether there was more. */
function decode(
  encoding: string,
  body: Uint8Array,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const make = DECOMPRESSORS[encoding];
  if (!make) return Promise.reject(new Error(`unknown encoding ${encoding}`));
  return new Promise((resolve, reject) => {
    const stream = make();
    const chunks: Buffer[] = [];
    let got = 0;
    let settled = false;
    const finish = (truncated: boolean) => {
      if (settled) return;
      settled = true;
      const out = new Uint8Array(Math.min(got, maxBytes));
      let at = 0;
      for (const c of chunks) {
        const take = Math.min(c.length, out.length - at);
        out.set(c.subarray(0, take), at);
        at += take;
      }
      resolve({ bytes: out, truncated });
    };
    stream.on("data", (chunk: Buffer) => {
      if (settled) return;
      chunks.push(chunk);
      got += chunk.length;
      if (got > maxBytes) {
        finish(true);
        stream.destroy();
      }
    });
    stream.on("end", () => finish(false));
    stream.on("error", (e: Error) => {
      if (settled) return;
      settled = true;
      reject(e);
    });
    stream.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
}

self.onmessage = async (event: MessageEvent<DecodeRequest>) => {
  const { id, encoding, body, maxBytes } = event.data;
  let reply: DecodeReply;
  try {
    const { bytes, truncated } = await decode(encoding, body, maxBytes);
    reply = { id, bytes, truncated };
  } catch (e) {
    reply = { id, error: e instanceof Error ? e.message : String(e) };
  }
  self.postMessage(reply, reply.bytes ? [reply.bytes.buffer as ArrayBuffer] : []);
};
