import assert from "node:assert/strict";
import { HttpPoster } from "../../src/net/http_client.ts";

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
 * The recorder's poster sends one request at a time on a kept-alive connection. (Pipelining
 * them was tried: Deno.serve went on handling requests pipelined after its own
 * `Connection: close`, so re-sending the unanswered ones duplicated records.)
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
