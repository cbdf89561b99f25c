import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import { BodyDecoder } from "../../src/web/body_decoder.ts";
import { bodyResponse } from "../../src/web/body_response.ts";

/** A record as the store returns it, with one response body and its encoding. */
const record = (body: Uint8Array, encoding?: string) => ({
  http: {
    response: {
      contentLength: body.length,
      header: {
        "Content-Type": ["text/plain"],
        ...(encoding ? { "Content-Encoding": [encoding] } : {}),
      },
      body: Buffer.from(body).toString("base64"),
    },
  },
});

const text = "hello, body ".repeat(1000);
const encoders: Record<string, (b: Buffer) => Buffer> = {
  gzip: (b) => zlib.gzipSync(b),
  deflate: (b) => zlib.deflateSync(b),
  br: (b) => zlib.brotliCompressSync(b),
  zstd: (b) => zlib.zstdCompressSync(b),
};

Deno.test("body response decodes gzip, deflate, br and zstd in the decoder's worker", async () => {
  const decoder = new BodyDecoder({ maxBytes: 1 << 20, deadlineMs: 10_000, maxWaiting: 8 });
  try {
    for (const [encoding, encode] of Object.entries(encoders)) {
      const res = await bodyResponse(record(encode(Buffer.from(text)), encoding), "response", {
        decoder,
      });
      assert.equal(res.headers.get("x-snoop-decoded"), encoding);
      assert.equal(res.headers.get("x-snoop-truncated"), null);
      assert.equal(await res.text(), text);
    }
  } finally {
    decoder.close();
  }
});

Deno.test("body response serves the first maxDecodedBytes and says it was truncated", async () => {
  const decoder = new BodyDecoder({ maxBytes: 1 << 20, deadlineMs: 10_000, maxWaiting: 8 });
  try {
    for (const [encoding, encode] of Object.entries(encoders)) {
      const res = await bodyResponse(record(encode(Buffer.from(text)), encoding), "response", {
        decoder,
        maxDecodedBytes: 100,
      });
      assert.equal(res.headers.get("x-snoop-decoded"), `${encoding} (truncated at 100 bytes)`);
      assert.equal(res.headers.get("x-snoop-truncated"), "1");
      assert.equal(await res.text(), text.slice(0, 100));
    }
  } finally {
    decoder.close();
  }
});

Deno.test("body response serves the captured bytes of a body that does not decode", async () => {
  const decoder = new BodyDecoder({ maxBytes: 1 << 20, deadlineMs: 10_000, maxWaiting: 8 });
  try {
    // Cut short, as a body kept to http.maxBodySize is.
    const cut = zlib.gzipSync(Buffer.from(text)).subarray(0, 40);
    const res = await bodyResponse(record(cut, "gzip"), "response", { decoder });
    assert.equal(
      res.headers.get("x-snoop-decoded"),
      "gzip (could not decode; captured bytes shown)",
    );
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(cut));
    // Identity and unknown encodings are served as they are.
    const plain = await bodyResponse(record(Buffer.from("plain")), "response", { decoder });
    assert.equal(plain.headers.get("x-snoop-decoded"), "identity");
    assert.equal(await plain.text(), "plain");
  } finally {
    decoder.close();
  }
});

Deno.test("body decoder ends a decode past its deadline with its worker", async () => {
  const decoder = new BodyDecoder({ maxBytes: 1 << 30, deadlineMs: 1, maxWaiting: 8 });
  try {
    const bomb = zlib.brotliCompressSync(Buffer.alloc(8 << 20));
    const res = await bodyResponse(record(bomb, "br"), "response", { decoder });
    assert.equal(res.headers.get("x-snoop-decoded"), "br (could not decode; captured bytes shown)");
    assert.equal((await res.arrayBuffer()).byteLength, bomb.length);
    assert.equal(decoder.running, false);
  } finally {
    decoder.close();
  }
});

Deno.test("body decoder refuses requests past maxWaiting with 503", async () => {
  const decoder = new BodyDecoder({ maxBytes: 1 << 20, deadlineMs: 10_000, maxWaiting: 1 });
  try {
    const body = record(zlib.gzipSync(Buffer.from(text)), "gzip");
    const [first, second] = await Promise.all([
      bodyResponse(body, "response", { decoder }),
      bodyResponse(body, "response", { decoder }),
    ]);
    assert.equal(first.status, 200);
    assert.equal(await first.text(), text);
    assert.equal(second.status, 503);
    assert.equal(second.headers.get("retry-after"), "1");
    await second.body?.cancel();
    // Once the first is done the next is taken.
    const third = await bodyResponse(body, "response", { decoder });
    assert.equal(await third.text(), text);
  } finally {
    decoder.close();
  }
});
