import assert from "node:assert/strict";
import { HttpPoster } from "../../src/recorder/http_client.ts";

/** A recorder endpoint that answers `Connection: close` to every `closeEvery`-th request. */
function endpoint(closeEvery = 0) {
  const bodies: string[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      bodies.push(await req.text());
      const close = closeEvery > 0 && bodies.length % closeEvery === 0;
      return new Response(null, { status: 204, headers: close ? { Connection: "close" } : {} });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/rec`,
    bodies,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

/**
 * `post` sends one request and waits for its answer. (`postAll` pipelines; it is tested
 * against `strictEndpoint` below, because Deno.serve goes on handling requests pipelined
 * after its own `Connection: close`, which RFC 9112 §9.6 forbids, so re-sending the
 * unanswered ones would duplicate records there.)
 */
const postEach = async (poster: HttpPoster, bodies: string[]) => {
  const statuses: number[] = [];
  for (const b of bodies) statuses.push(await poster.post(b));
  return statuses;
};

Deno.test("http poster: 200 bodies on one kept-alive connection arrive once each, in order", async () => {
  const ep = endpoint();
  const poster = new HttpPoster(ep.url, 5000, {});
  try {
    const bodies = Array.from({ length: 200 }, (_, i) => JSON.stringify({ n: i }));
    const statuses = await postEach(poster, bodies);
    assert.deepEqual(statuses, bodies.map(() => 204));
    assert.deepEqual(ep.bodies, bodies);
  } finally {
    poster.reset();
    await ep.close();
  }
});

Deno.test("http poster: an endpoint that closes every 7th request gets the rest on new connections, once each", async () => {
  const ep = endpoint(7);
  const poster = new HttpPoster(ep.url, 5000, {});
  try {
    const bodies = Array.from({ length: 50 }, (_, i) => `{"n":${i}}`);
    const statuses = await postEach(poster, bodies);
    assert.deepEqual(statuses, bodies.map(() => 204));
    assert.deepEqual(ep.bodies, bodies, "each once, in order");
  } finally {
    poster.reset();
    await ep.close();
  }
});

Deno.test("http poster: an endpoint that is down makes post() fail with the reason", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const poster = new HttpPoster(`http://127.0.0.1:${port}/`, 2000, {});
  await assert.rejects(() => poster.post("d"), /refused/i);
});

/**
 * An endpoint that behaves as RFC 9112 §9.6 asks (as nginx does at `keepalive_requests`):
 * after answering `closeEvery` requests on a connection it says `Connection: close`, closes,
 * and processes nothing that was pipelined behind. With `dropEvery` it instead closes
 * without a word after reading that many requests and answering all but the last two.
 */
function strictEndpoint(opts: { closeEvery?: number; dropEvery?: number }) {
  const bodies: string[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const decoder = new TextDecoder();
  const serveConn = async (conn: Deno.Conn) => {
    conns.add(conn);
    let pending = "";
    let handled = 0;
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return;
        pending += decoder.decode(buf.subarray(0, n));
        let out = "";
        for (;;) {
          const headEnd = pending.indexOf("\r\n\r\n");
          if (headEnd < 0) break;
          const length = Number(/content-length: (\d+)/i.exec(pending.slice(0, headEnd))![1]);
          if (pending.length < headEnd + 4 + length) break;
          const body = pending.slice(headEnd + 4, headEnd + 4 + length);
          pending = pending.slice(headEnd + 4 + length);
          handled++;
          if (opts.dropEvery && handled === opts.dropEvery) {
            bodies.push(body); // processed, but its answer (and the one before) never leaves
            await conn.write(new TextEncoder().encode(out.slice(0, out.lastIndexOf("HTTP/1.1"))));
            return;
          }
          bodies.push(body);
          const close = opts.closeEvery !== undefined && handled === opts.closeEvery;
          out += `HTTP/1.1 204 No Content\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
          if (close) {
            await conn.write(new TextEncoder().encode(out));
            return;
          }
        }
        if (out) await conn.write(new TextEncoder().encode(out));
      }
    } finally {
      conns.delete(conn);
      conn.close();
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) serveConn(conn).catch(() => {});
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/rec`,
    bodies,
    async close() {
      listener.close();
      for (const c of conns) c.close();
      await accepting;
    },
  };
}

Deno.test("http poster: 200 bodies pipelined on one connection arrive once each, in order", async () => {
  const ep = endpoint();
  const poster = new HttpPoster(ep.url, 5000, {});
  try {
    const bodies = Array.from({ length: 200 }, (_, i) => JSON.stringify({ n: i }));
    const { statuses, error } = await poster.postAll(bodies);
    assert.equal(error, undefined);
    assert.deepEqual(statuses, bodies.map(() => 204));
    assert.deepEqual(ep.bodies, bodies);
  } finally {
    poster.reset();
    await ep.close();
  }
});

Deno.test("http poster: pipelined bodies behind a `Connection: close` go again on a new connection, once each", async () => {
  const ep = strictEndpoint({ closeEvery: 7 });
  const poster = new HttpPoster(ep.url, 5000, {});
  try {
    const bodies = Array.from({ length: 50 }, (_, i) => `{"n":${i}}`);
    const { statuses, error } = await poster.postAll(bodies);
    assert.equal(error, undefined);
    assert.deepEqual(statuses, bodies.map(() => 204));
    assert.deepEqual(ep.bodies, bodies, "each once, in order");
  } finally {
    poster.reset();
    await ep.close();
  }
});

Deno.test("http poster: bodies left unanswered by a connection that drops are sent again (at least once)", async () => {
  const ep = strictEndpoint({ dropEvery: 5 });
  const poster = new HttpPoster(ep.url, 5000, {});
  try {
    const bodies = Array.from({ length: 12 }, (_, i) => `{"n":${i}}`);
    const { statuses, error } = await poster.postAll(bodies);
    assert.equal(error, undefined);
    assert.deepEqual(statuses, bodies.map(() => 204));
    // Each connection processed 5 and answered 3: the 4th and 5th arrive twice.
    assert.deepEqual(new Set(ep.bodies), new Set(bodies));
    assert.deepEqual(
      ep.bodies.slice(0, 8),
      ["0", "1", "2", "3", "4", "3", "4", "5"].map((n) => `{"n":${n}}`),
    );
  } finally {
    poster.reset();
    await ep.close();
  }
});

Deno.test("http poster: bodies beyond ASCII carry their UTF-8 length (é, ☕, 😀, a lone surrogate)", async () => {
  const ep = endpoint();
  const poster = new HttpPoster(ep.url, 5000, {});
  try {
    const bodies = ['{"s":"café"}', '{"s":"☕ and 😀"}', '{"s":"\ud800"}', '{"s":"ascii"}'];
    const { statuses, error } = await poster.postAll(bodies);
    assert.equal(error, undefined);
    assert.deepEqual(statuses, [204, 204, 204, 204]);
    // A lone surrogate cannot be UTF-8: it goes out (and comes back) as U+FFFD.
    assert.deepEqual(ep.bodies, bodies.map((b) => b.replace("\ud800", "\ufffd")));
  } finally {
    poster.reset();
    await ep.close();
  }
});
