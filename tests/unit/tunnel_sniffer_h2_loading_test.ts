import assert from "node:assert/strict";
import { Logger } from "../../src/util/log.ts";
import type { Recorder } from "../../src/recorder/recorder.ts";
import { DEFAULT_CAPTURE, RecordSink } from "../../src/recorder/sink.ts";
import { ConnContext } from "../../src/tunnel/conn_context.ts";
import { Shutdown } from "../../src/util/shutdown.ts";
import { hpackLoaded } from "../../src/protocol/http2/hpack_decoder.ts";
import { TunnelSniffer } from "../../src/tunnel/tunnel_sniffer.ts";
import { concat } from "../helpers/chunks.ts";
import { frame, GET, literalBlock } from "../helpers/h2_frames.ts";

const SETTINGS = 0x4, HEADERS = 0x1, END_STREAM_AND_HEADERS = 0x5;

// Alone in its file, so snoop's HPACK decoder is not loaded yet (each test file runs in a
// fresh isolate), as in a proxy that has not seen HTTP/2. (The frame helpers import hpack.js
// themselves, which makes the load quick but still asynchronous.)
Deno.test("the first HTTP/2 tunnel: bytes wait for the HPACK decoder, and a tunnel that ends first is still reported", async () => {
  const records: string[] = [];
  const recorder: Recorder = {
    name: "memory",
    kind: "memory",
    record: (data) => void records.push(typeof data === "string" ? data : data()),
    stats: () => ({ written: records.length, dropped: {}, queued: 0 }),
    close: () => Promise.resolve(),
  };
  const addr = (port: number): Deno.NetAddr => ({ transport: "tcp", hostname: "127.0.0.1", port });
  const ctx = new ConnContext(
    "h2",
    "tcp",
    addr(50000),
    addr(8080),
    new RecordSink(recorder, DEFAULT_CAPTURE),
    new Logger("test"),
    new Shutdown(),
  );
  const sniffer = new TunnelSniffer(ctx, ctx.newRecord(), {
    sniffing: true,
    sniffTimeoutMs: 5000,
    websocket: false,
    sampleRate: 10,
    sse: false,
    sseSampleRate: 10,
    intervalMs: 0,
    readTimeoutMs: 0,
    idleTimeoutMs: 3_600_000,
    dialTimeoutMs: 10_000,
  });
  assert.equal(hpackLoaded(), false);

  // A GET and its answer, each a HEADERS frame that ends its stream.
  sniffer.onClientData(concat([
    new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    frame(SETTINGS, 0, 0, new Uint8Array()),
    frame(HEADERS, END_STREAM_AND_HEADERS, 1, literalBlock(GET("/"))),
  ]));
  const answer = concat([
    frame(SETTINGS, 0, 0, new Uint8Array()),
    frame(HEADERS, END_STREAM_AND_HEADERS, 1, literalBlock([[":status", "200"]])),
  ]);
  sniffer.onServerData(answer);
  answer.fill(0); // the relay reuses its buffer: what the sniffer holds must be its own copy
  assert.equal(sniffer.protocol, "h2");
  assert.equal(hpackLoaded(), false);

  // The tunnel ends before the decoder is there: nothing is reported yet, and nothing lost.
  sniffer.finish({ inputBytes: 60, outputBytes: 19, idleTimedOut: false });
  assert.deepEqual(records, []);
  for (let waited = 0; records.length === 0 && waited < 5000; waited += 10) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(hpackLoaded(), true);
  assert.equal(records.length, 1);
  const rec = JSON.parse(records[0]);
  assert.equal(rec.http.proto, "HTTP/2.0");
  assert.equal(rec.http.method, "GET");
  assert.equal(rec.http.host, "a.test");
  assert.equal(rec.http.uri, "/");
  assert.equal(rec.http.statusCode, 200);
  assert.equal(rec.err, undefined);
});
