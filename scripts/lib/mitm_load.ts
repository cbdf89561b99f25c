/**
 * Load through a proxy's CONNECT tunnels with TLS inside (what an intercepting proxy sees):
 * HTTP/1.1 keep-alive clients, or HTTP/2 streams. The generator is node:tls in Deno on the
 * same cores as the proxy, so its figures are lower bounds, but the same for every proxy.
 */
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";

export interface LoadResult {
  requests: number;
  seconds: number;
  latenciesMs: number[];
}

/** Opens a CONNECT tunnel through the proxy as a node socket. */
/** A CONNECT tunnel through the proxy, or an error within `timeoutMs` (a proxy at its limit). */
export function connectTunnel(
  proxyPort: number,
  target: string,
  timeoutMs = 10_000,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(
      proxyPort,
      "127.0.0.1",
      () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`),
    );
    const fail = (e: Error) => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new Error(`no answer to CONNECT in ${timeoutMs} ms`)),
      timeoutMs,
    );
    let head = "";
    const onData = (d: Uint8Array) => {
      head += new TextDecoder().decode(d);
      if (!head.includes("\r\n\r\n")) return;
      s.off("data", onData);
      if (!/^HTTP\/1\.[01] 200/.test(head)) return fail(new Error(head));
      clearTimeout(timer);
      resolve(s);
    };
    s.on("data", onData);
    s.on("error", fail);
    s.on("close", () => fail(new Error("closed before answering CONNECT")));
  });
}

interface TlsTarget {
  proxyPort: number;
  /** host:port the proxy connects to. */
  target: string;
  servername: string;
  /** CA that signs what the client sees (the proxy's CA when it intercepts). */
  ca: string;
  /** Bytes of one response (head + body), to know when it has arrived. */
  responseBytes: number;
}

/** `clients` TLS connections through tunnels, one HTTP/1.1 request after another on each. */
export async function http1Load(
  t: TlsTarget,
  clients: number,
  seconds: number,
): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const request = new TextEncoder().encode(
    `GET /1k HTTP/1.1\r\nHost: ${t.servername}\r\n\r\n`,
  );
  await Promise.all(Array.from({ length: clients }, async () => {
    const raw = await connectTunnel(t.proxyPort, t.target);
    const s = tls.connect({
      socket: raw,
      servername: t.servername,
      ca: [t.ca],
      ALPNProtocols: ["http/1.1"],
    });
    await new Promise((r, j) => s.once("secureConnect", r).once("error", j));
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        let got = 0;
        const onData = (d: Uint8Array) => {
          got += d.length;
          if (got >= t.responseBytes) {
            s.off("data", onData);
            resolve();
          }
        };
        s.on("data", onData);
        s.write(request);
      });
      latenciesMs.push(performance.now() - t0);
    }
    s.destroy();
  }));
  return { requests: latenciesMs.length, seconds, latenciesMs };
}

/** `connections` HTTP/2 connections through tunnels, `streams` concurrent streams on each. */
export async function http2Load(
  t: TlsTarget,
  connections: number,
  streams: number,
  seconds: number,
): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    const raw = await connectTunnel(t.proxyPort, t.target);
    const session = http2.connect(`https://${t.servername}`, {
      createConnection: () =>
        tls.connect({ socket: raw, servername: t.servername, ca: [t.ca], ALPNProtocols: ["h2"] }),
    });
    await Promise.all(Array.from({ length: streams }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await new Promise<void>((resolve, reject) => {
          const req = session.request({ ":path": "/1k" });
          req.on("data", () => {});
          req.on("end", () => resolve());
          req.on("error", reject);
          req.end();
        });
        latenciesMs.push(performance.now() - t0);
      }
    }));
    session.close();
  }));
  return { requests: latenciesMs.length, seconds, latenciesMs };
}
