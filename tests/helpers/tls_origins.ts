import https from "node:https";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";

/**
 * TLS origins that offer a fixed set of ALPN protocols, for checking that both sides of
 * an interception speak the same one: `["http/1.1"]` (node:https) or `["h2"]` only
 * (node:http2 without HTTP/1 fallback). They answer "<proto> <path> <body>".
 */
export async function startAlpnOrigin(
  protocols: ["http/1.1"] | ["h2"],
  cert: { cert: string; key: string },
): Promise<{ port: number; close(): Promise<void> }> {
  const handler = (
    req: { httpVersion: string; url?: string; on: (e: string, f: (c?: unknown) => void) => void },
    res: {
      setHeader(n: string, v: string): void;
      end(b: string): void;
    },
  ) => {
    let body = "";
    req.on("data", (c) => body += String(c));
    req.on("end", () => {
      res.setHeader("x-origin-alpn", protocols[0]);
      res.end(`${req.httpVersion} ${req.url} ${body}`);
    });
  };
  // deno-lint-ignore no-explicit-any
  const server: any = protocols[0] === "h2"
    ? http2.createSecureServer({ ...cert, allowHTTP1: false }, handler as never)
    : https.createServer({ ...cert, ALPNProtocols: ["http/1.1"] }, handler as never);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const sockets = new Set<{ destroy(): void }>();
  server.on("secureConnection", (s: { destroy(): void; on(e: string, f: () => void): void }) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
