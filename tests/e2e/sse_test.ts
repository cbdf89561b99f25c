import assert from "node:assert/strict";
import {
  curl,
  needs,
  startOrigin,
  startSnoop,
  startWebhook,
  testCert,
} from "../helpers/harness.ts";
import { opensslCa } from "../helpers/openssl_ca.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

/**
 * The event stream the origin sends, slowly and cut mid-line, mid-field and between CR
 * and LF: what a sniffer sees arrives in the same pieces.
 */
const PIECES = [
  ": stream start\n\nevent: greet\ndata: hel",
  "lo\r",
  "\nid: 1\r\n\r\n",
  "data: line one\ndata: line two\nid: 2\nretry: 3000\n\n",
  'event: bye\ndata: {"n":3}\n\n',
];
const WANT = [
  { event: "greet", id: "1", data: "hello", retry: null },
  { event: "", id: "2", data: "line one\nline two", retry: 3000 },
  { event: "bye", id: null, data: '{"n":3}', retry: null },
];

function sseResponse(): Response {
  const enc = new TextEncoder();
  let i = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      return new Promise((resolve) => {
        timer = setTimeout(() => {
          if (i < PIECES.length) c.enqueue(enc.encode(PIECES[i++]));
          else c.close();
          resolve();
        }, 40);
      });
    },
    cancel() {
      clearTimeout(timer);
    },
  });
  return new Response(body, {
    headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache" },
  });
}

const service = (hook: string, ca: { cert: string; key: string }, trust: string, rate = -1) => `
services:
  - name: sse
    addr: 127.0.0.1:0
    recorders: [{ name: hook, metadata: { http.body: true } }]
    handler:
      type: http
      metadata:
        sniffing: true
        sniffing.sse: true
        sniffing.sse.sampleRate: ${rate}
        mitm.certFile: ${ca.cert}
        mitm.keyFile: ${ca.key}
        mitm.upstreamCA: ${trust}
recorders: [{ name: hook, http: { url: "${hook}" } }]
`;

/** The records of one stream: its events, in order, then the request's own record last. */
function assertStream(recs: Rec[], what: string, proto: string) {
  const events = recs.filter((r) => r.sse);
  assert.deepEqual(events.map((r) => r.sse), WANT, what);
  const last = recs.at(-1)!;
  assert.equal(last.sse, undefined, `${what}: the request's record comes last`);
  assert.equal(last.http.proto, proto, what);
  assert.equal(last.http.statusCode, 200, what);
  assert.match(atob(last.http.response.body), /event: bye/, what);
  for (const e of events) {
    assert.equal(e.sid, last.sid, what);
    assert.equal(e.http.uri, last.http.uri, what);
    assert.equal(e.http.response.body, null, `${what}: an event's record carries no body`);
    assert.ok(e.outputBytes > 0, what);
  }
  // Every byte of the stream belongs to one event (the first one has the comment's too).
  const total = events.reduce((n, e) => n + e.outputBytes, 0);
  assert.equal(total, new TextEncoder().encode(PIECES.join("")).length, what);
}

Deno.test({
  name: "sse: one record per event through the forward proxy, a CONNECT tunnel and MITM h1/h2",
  ignore: needs("curl", "openssl"),
  async fn() {
    const cert = await testCert();
    const ca = await opensslCa({ name: "Test SSE CA" });
    await using plain = await startOrigin(() => sseResponse());
    await using tls = await startOrigin(() => sseResponse(), cert);
    await using hook = await startWebhook();
    await using snoop = await startSnoop(service(hook.url, ca, cert.certFile));
    const proxy = `127.0.0.1:${snoop.port()}`;
    try {
      const cases: [string, string[], string][] = [
        ["forward proxy", ["-x", proxy, `${plain.url}/events`], "HTTP/1.1"],
        ["CONNECT tunnel", ["-p", "-x", proxy, `${plain.url}/events`], "HTTP/1.1"],
        [
          "MITM HTTP/1.1",
          ["--http1.1", "--cacert", ca.cert, "-x", proxy, `https://localhost:${tls.port}/events`],
          "HTTP/1.1",
        ],
        [
          "MITM HTTP/2",
          ["--http2", "--cacert", ca.cert, "-x", proxy, `https://localhost:${tls.port}/events`],
          "HTTP/2.0",
        ],
      ];
      for (const [what, args, proto] of cases) {
        const before = hook.records.length;
        const r = await curl("-N", ...args);
        assert.equal(r.code, 0, `${what}: ${r.stderr}`);
        assert.equal(r.stdout.replaceAll("\r", ""), PIECES.join("").replaceAll("\r", ""), what);
        // 3 events and the request; a tunnel's own record is not made when requests were.
        const recs = (await hook.waitFor(before + 4)).slice(before) as Rec[];
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(hook.records.length, before + 4, `${what}: no further records`);
        assertStream(recs, what, proto);
      }
    } finally {
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "sse: sniffing.sse.sampleRate 1 keeps one event of a quick burst; sniffing.sse off, none",
  ignore: needs("curl", "openssl"),
  async fn() {
    const cert = await testCert();
    const ca = await opensslCa({ name: "Test SSE CA" });
    await using plain = await startOrigin(() => sseResponse());
    await using hook = await startWebhook();
    await using sampled = await startSnoop(service(hook.url, ca, cert.certFile, 1));
    const off = service(hook.url, ca, cert.certFile).replace("sniffing.sse: true", "");
    await using unsniffed = await startSnoop(off.replace("sniffing.sse.sampleRate: -1", ""));
    try {
      const r = await curl("-N", "-x", `127.0.0.1:${sampled.port()}`, `${plain.url}/events`);
      assert.equal(r.code, 0, r.stderr);
      const recs = (await hook.waitFor(2)) as Rec[];
      await new Promise((r) => setTimeout(r, 100));
      // Events 40 ms apart, one a second allowed: the first only.
      assert.deepEqual(hook.records.map((r: Rec) => r.sse?.event), ["greet", undefined]);
      assert.equal(recs.at(-1)!.http.statusCode, 200);
      const r2 = await curl("-N", "-x", `127.0.0.1:${unsniffed.port()}`, `${plain.url}/events`);
      assert.equal(r2.code, 0, r2.stderr);
      await hook.waitFor(3);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(hook.records.length, 3);
      assert.equal((hook.records[2] as Rec).sse, undefined);
    } finally {
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});
