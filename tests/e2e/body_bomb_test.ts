/**
 * Decompression bombs recorded through snoop and opened with the body endpoint: a gzip body
 * of 1 MiB that inflates to 1000 MiB and a zstd one of 65 KiB that inflates to 2048 MiB.
 * snoop runs as a child process so that its own peak RSS (VmHWM) is what is measured.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import { freePort, until } from "../helpers/harness.ts";
import { startSnoopProcess } from "../helpers/snoop_process.ts";

const MiB = 1024 * 1024;
const CAP = 16 * MiB;
const TOKEN = "bomb-test-token";

/**
 * Concatenated gzip members (RFC 1952 §2.2) and zstd frames (RFC 8878 §3) decode as one
 * body: many copies of one small member make a bomb without compressing gigabytes here.
 */
const gzipBomb = () => Buffer.concat(Array(1000).fill(zlib.gzipSync(Buffer.alloc(MiB))));
const zstdBomb = () => Buffer.concat(Array(32).fill(zlib.zstdCompressSync(Buffer.alloc(64 * MiB))));

function startBombOrigin(port: number) {
  const bombs: Record<string, { encoding: string; body: Uint8Array }> = {
    "/gzip": { encoding: "gzip", body: gzipBomb() },
    "/zstd": { encoding: "zstd", body: zstdBomb() },
  };
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen: () => {} },
    (req) => {
      const bomb = bombs[new URL(req.url).pathname];
      if (!bomb) return new Response("small and plain");
      return new Response(new Uint8Array(bomb.body), {
        headers: { "content-encoding": bomb.encoding, "content-type": "text/plain" },
      });
    },
  );
  return { close: async () => (ac.abort(), await server.finished) };
}

/** The first `max` bytes of a response body; the rest is not read. */
async function readAtMost(res: Response, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let got = 0;
  const reader = res.body!.getReader();
  while (got < max) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
  }
  await reader.cancel();
  return new Uint8Array(Buffer.concat(parts));
}

Deno.test({
  name: "body endpoint decodes a gzip and a zstd bomb to the cap, off the proxy's thread",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-bomb-" });
  const [proxyPort, uiPort, originPort] = [freePort(), freePort(), freePort()];
  const origin = startBombOrigin(originPort);
  const snoop = await startSnoopProcess(
    dir,
    `
services:
- name: proxy
  addr: 127.0.0.1:${proxyPort}
  handler: { type: http }
  recorders: [{ name: store, metadata: { http.body: true, http.maxBodySize: 2097152 } }]
recorders:
- name: store
  store: { path: ${dir}/records.db }
ui: { addr: "127.0.0.1:${uiPort}", store: store, token: ${TOKEN} }
log: { level: warn }
`,
    [proxyPort, uiPort],
  );
  // The proxy's client: fetch through snoop as an HTTP proxy, without decompressing.
  const client = Deno.createHttpClient({ proxy: { url: `http://127.0.0.1:${proxyPort}` } });
  const viaProxy = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${originPort}${path}`, {
      client,
      headers: { "accept-encoding": "identity" },
    });
    return new Uint8Array(await res.arrayBuffer());
  };
  const ui = (path: string) =>
    fetch(`http://127.0.0.1:${uiPort}${path}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
  try {
    // Relayed as they are: the proxy does not decode them.
    assert.equal((await viaProxy("/gzip")).length, gzipBomb().length);
    assert.equal((await viaProxy("/zstd")).length, zstdBomb().length);
    const ids: Record<string, number> = {};
    await until(
      async () => {
        const { records } = await (await ui("/api/records?limit=10")).json();
        for (const r of records) ids[new URL(r.uri).pathname] = r.id;
        return ids["/gzip"] !== undefined && ids["/zstd"] !== undefined;
      },
      "the bombs' records in the store",
      20_000,
    );

    for (const [path, encoding] of [["/gzip", "gzip"], ["/zstd", "zstd"]]) {
      const order: string[] = [];
      const body = ui(`/api/records/${ids[path]}/body/response`).then(async (res) => {
        order.push("decode"); // the response head comes when the decode is done
        return { res, bytes: await readAtMost(res, CAP + 1) };
      });
      // A proxied request sent while the bomb is being decoded: on the proxy's thread, a
      // decode held it until the whole bomb was inflated.
      await new Promise((r) => setTimeout(r, 30));
      const small = viaProxy("/small").then((b) => {
        order.push("proxied");
        return b;
      });
      const [{ res, bytes }, smallBody] = await Promise.all([body, small]);
      assert.equal(new TextDecoder().decode(smallBody), "small and plain");
      assert.deepEqual(order, ["proxied", "decode"], `${path}: proxied request waited`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-snoop-decoded"), `${encoding} (truncated at ${CAP} bytes)`);
      assert.equal(res.headers.get("x-snoop-truncated"), "1");
      assert.equal(bytes.length, CAP);
      assert.ok(bytes.every((b) => b === 0), "the decoded prefix is the bomb's zeros");
    }
    const peak = snoop.peakRss();
    assert.ok(peak < CAP + 300 * MiB, `snoop's peak RSS ${Math.round(peak / MiB)} MiB`);
  } finally {
    client.close();
    await snoop.stop();
    await origin.close();
    await Deno.remove(dir, { recursive: true });
  }
});
