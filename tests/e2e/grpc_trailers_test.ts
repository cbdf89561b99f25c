import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { curl, needs, startSnoop, startWebhook, testCert } from "../helpers/harness.ts";
import { opensslCa } from "../helpers/openssl_ca.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

/** A gRPC message frame: compressed flag, 4-byte length, the bytes. */
function grpcFrame(text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

/**
 * A gRPC-shaped origin on node:http2: `/ok` answers a message and trailers `grpc-status: 0`;
 * `/missing` a message and trailers `grpc-status: 5` with a percent-encoded `grpc-message`;
 * `/only` a trailers-only response (one HEADERS with END_STREAM).
 */
function grpcHandler(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) {
  const path = headers[":path"];
  stream.on("error", () => {});
  stream.resume();
  stream.on("end", () => {
    if (path === "/only") {
      stream.respond({
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": "5",
        "grpc-message": "nothing here",
      }, { endStream: true });
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, {
      waitForTrailers: true,
    });
    stream.on("wantTrailers", () => {
      stream.sendTrailers(
        path === "/ok"
          ? { "grpc-status": "0" }
          : { "grpc-status": "5", "grpc-message": "no such user: caf%C3%A9 %3F" },
      );
    });
    stream.end(grpcFrame(`reply ${path}`));
  });
}

async function listen(server: http2.Http2Server | http2.Http2SecureServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

Deno.test({
  name: "grpc: trailers and grpc-status/grpc-message recorded through MITM h2 and an h2c tunnel",
  ignore: needs("curl", "openssl"),
  async fn() {
    const cert = await testCert();
    const ca = await opensslCa({ name: "Test gRPC CA" });
    const h2c = http2.createServer();
    h2c.on("stream", grpcHandler);
    const h2s = http2.createSecureServer({ cert: cert.cert, key: cert.key, allowHTTP1: false });
    h2s.on("stream", grpcHandler);
    const clearPort = await listen(h2c);
    const tlsPort = await listen(h2s);
    await using hook = await startWebhook();
    await using snoop = await startSnoop(`
services:
  - name: grpc
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: http
      metadata:
        sniffing: true
        mitm.certFile: ${ca.cert}
        mitm.keyFile: ${ca.key}
        mitm.upstreamCA: ${cert.certFile}
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    const proxy = `127.0.0.1:${snoop.port()}`;
    // An empty request message: not compressed, length 0.
    await Deno.writeFile(`${ca.dir}/empty-message`, new Uint8Array(5));
    const call = (url: string, ...how: string[]) =>
      curl(
        ...how,
        "-x",
        proxy,
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "--data-binary",
        `@${ca.dir}/empty-message`,
        url,
      );
    try {
      for (
        const [what, base, how] of [
          ["MITM", `https://localhost:${tlsPort}`, ["--http2", "--cacert", ca.cert]],
          ["h2c tunnel", `http://127.0.0.1:${clearPort}`, ["--http2-prior-knowledge", "-p"]],
        ] as const
      ) {
        for (const path of ["/ok", "/missing", "/only"]) {
          const before = hook.records.length;
          const r = await call(`${base}${path}`, ...how);
          assert.equal(r.code, 0, `${what} ${path}: ${r.stderr}`);
          const [rec] = (await hook.waitFor(before + 1)).slice(before) as Rec[];
          assert.equal(rec.http.proto, "HTTP/2.0", what);
          assert.equal(rec.http.uri, path, what);
          if (path === "/ok") {
            assert.deepEqual(rec.http.response.trailer, { "Grpc-Status": ["0"] }, what);
            assert.deepEqual(rec.grpc, { status: 0, message: "" }, what);
          } else if (path === "/missing") {
            assert.deepEqual(rec.http.response.trailer, {
              "Grpc-Message": ["no such user: caf%C3%A9 %3F"],
              "Grpc-Status": ["5"],
            }, what);
            assert.deepEqual(rec.grpc, { status: 5, message: "no such user: café ?" }, what);
          } else {
            assert.equal(rec.http.response.trailer, undefined, what);
            assert.deepEqual(rec.grpc, { status: 5, message: "nothing here" }, what);
          }
        }
      }
    } finally {
      await new Promise((r) => h2c.close(r));
      await new Promise((r) => h2s.close(r));
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});
