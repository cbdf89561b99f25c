import assert from "node:assert/strict";
import type { Recorder } from "../../src/recorder/recorder.ts";
import { DEFAULT_CAPTURE, RecordSink } from "../../src/recorder/sink.ts";
import { SNIFFERS } from "../../src/sniff/mod.ts";
import type { SniffContext } from "../../src/sniff/sniffer.ts";
import { ConnContext } from "../../src/tunnel/conn_context.ts";
import type { TunnelOptions } from "../../src/tunnel/tunnel_options.ts";
import { TunnelSniffer } from "../../src/tunnel/tunnel_sniffer.ts";
import { Logger } from "../../src/util/log.ts";
import { Shutdown } from "../../src/util/shutdown.ts";
import { ascii, everySplit } from "../helpers/chunks.ts";
import { clientHelloRecords } from "../helpers/tls_hello_builder.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

const OPTS: TunnelOptions = {
  sniffing: true,
  sniffTimeoutMs: 5000,
  websocket: true,
  sampleRate: -1,
  sse: false,
  sseSampleRate: 10,
  intervalMs: 0,
  readTimeoutMs: 0,
  idleTimeoutMs: 3_600_000,
  dialTimeoutMs: 10_000,
};
const RESULT = { inputBytes: 0, outputBytes: 0, idleTimedOut: false };

/** A tunnel's sniffer and the records it emits, parsed. */
function tunnel(upgraded = false) {
  const records: Rec[] = [];
  const recorder: Recorder = {
    name: "memory",
    kind: "memory",
    record: (data) => void records.push(JSON.parse(typeof data === "string" ? data : data())),
    stats: () => ({ written: records.length, dropped: {}, queued: 0 }),
    close: () => Promise.resolve(),
  };
  const addr = (port: number): Deno.NetAddr => ({ transport: "tcp", hostname: "127.0.0.1", port });
  const ctx = new ConnContext(
    "t",
    "tcp",
    addr(50000),
    addr(8080),
    new RecordSink(recorder, { ...DEFAULT_CAPTURE, body: true }),
    new Logger("test"),
    new Shutdown(),
  );
  const record = ctx.newRecord();
  record.host = "example.com:443";
  const sniffer = new TunnelSniffer(ctx, record, OPTS, upgraded);
  return { sniffer, records, record };
}

Deno.test("sniff registry: each sniffer is listed under its own name", () => {
  const record = tunnel().record;
  const ctx: SniffContext = {
    record,
    sink: new RecordSink(),
    emit: () => {},
    options: OPTS,
    abort: () => {},
  };
  assert.deepEqual(Object.keys(SNIFFERS).sort(), ["h2", "http", "opaque", "tls", "websocket"]);
  // h2 is left out: making one starts loading the HPACK decoder (see the h2 loading test).
  for (const name of ["http", "tls", "websocket", "opaque"]) {
    assert.equal(SNIFFERS[name](ctx).name, name);
  }
});

Deno.test("tunnel sniffer: a ClientHello split at every offset is detected, replayed whole into the TLS sniffer", () => {
  const hello = clientHelloRecords();
  for (const pieces of everySplit(hello)) {
    const { sniffer, records } = tunnel();
    for (const piece of pieces) sniffer.onClientData(piece);
    assert.equal(sniffer.protocol, "tls");
    sniffer.finish(RESULT);
    assert.equal(records.length, 1);
    const [rec] = records;
    assert.equal(rec.proto, "tls");
    assert.equal(rec.tls.serverName, "example.com");
    assert.equal(rec.tls.proto, "h2");
    assert.equal(rec.err, undefined);
  }
});

Deno.test("tunnel sniffer: an HTTP/1 request split at every offset gives one record per request", () => {
  const request = ascii("GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n");
  const response = ascii("HTTP/1.1 204 No Content\r\n\r\n");
  for (const pieces of everySplit(request)) {
    const { sniffer, records } = tunnel();
    for (const piece of pieces) sniffer.onClientData(piece);
    sniffer.onServerData(response);
    assert.equal(sniffer.protocol, "http");
    sniffer.finish(RESULT);
    assert.equal(records.length, 1);
    assert.equal(records[0].http.method, "GET");
    assert.equal(records[0].http.uri, "/a");
    assert.equal(records[0].http.statusCode, 204);
    assert.equal(records[0].host, "example.com:80");
  }
});

Deno.test("tunnel sniffer: server bytes sent before the client's first are held and replayed after detection", () => {
  const { sniffer, records } = tunnel();
  // The response arrives first (a server that answers early), then the request.
  sniffer.onServerData(ascii("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  assert.equal(sniffer.protocol, "detect");
  sniffer.onClientData(ascii("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  sniffer.finish(RESULT);
  assert.equal(records.length, 1);
  assert.equal(records[0].http.statusCode, 200);
  assert.equal(atob(records[0].http.response.body), "ok");
});

Deno.test("tunnel sniffer: bytes of no protocol it reads go opaque: the tunnel's own record, once", () => {
  const { sniffer, records } = tunnel();
  sniffer.onServerData(ascii("SSH-2.0-OpenSSH_9.6\r\n"));
  sniffer.onClientData(ascii("SSH-2.0-OpenSSH_9.6\r\n" + "x".repeat(40)));
  sniffer.onClientData(ascii("more"));
  assert.equal(sniffer.protocol, "opaque");
  sniffer.finish(RESULT);
  assert.equal(records.length, 1);
  assert.equal(records[0].host, "example.com:443");
  assert.equal(records[0].http, undefined);
  assert.equal(records[0].err, undefined);
});

Deno.test("tunnel sniffer: after an upgrade the handler forwarded, every byte is WebSocket frames", () => {
  const { sniffer, records } = tunnel(true);
  assert.equal(sniffer.protocol, "websocket");
  // A masked text frame "hi" from the client, an unmasked one back.
  sniffer.onClientData(Uint8Array.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]));
  sniffer.onServerData(Uint8Array.from([0x81, 0x02, 0x68, 0x69]));
  sniffer.finish(RESULT);
  assert.deepEqual(records.map((r) => r.websocket?.from ?? "tunnel"), [
    "client",
    "server",
    "tunnel",
  ]);
  assert.equal(records[0].websocket.masked, true);
  assert.equal(records[0].websocket.length, 2);
  assert.equal(records[1].websocket.masked, false);
  assert.equal(atob(records[1].websocket.payload), "hi");
});
