import type { Metadata } from "../../config/metadata.ts";
import type { MitmInterceptor } from "../../mitm/interceptor.ts";
import { DEFAULT_HTTP1_LIMITS, type Http1Limits } from "../../protocol/http1/parser.ts";
import { readTunnelOptions, type TunnelOptions } from "../../tunnel/tunnel_options.ts";
import { VERSION } from "../../util/version.ts";

/** The http handler's options, read once from its metadata (GOST's keys). */
export interface HttpHandlerOptions {
  /** What CONNECT tunnels and upgraded connections run with (sniffing, deadlines, egress). */
  tunnel: TunnelOptions;
  /** `Proxy-Agent` on the answers snoop writes itself (`proxyAgent`). */
  proxyAgent: string;
  /** Deadline for a connection's first request head (`headerTimeout`). */
  headerTimeoutMs: number;
  /** How long a kept-alive client connection may wait for its next request. */
  keepAliveMs: number;
  /** Message limits; the parser answers 414/431/400 past them. */
  limits: Http1Limits;
}

export function readHttpOptions(md: Metadata, mitm?: MitmInterceptor): HttpHandlerOptions {
  const tunnel = readTunnelOptions(md, mitm);
  const proxyAgent = md.string("proxyAgent", `snoop/${VERSION}`);
  const headerTimeoutMs = md.duration("headerTimeout", 10_000);
  const keepAliveMs = md.duration("keepAliveTimeout", 60_000);
  const d = DEFAULT_HTTP1_LIMITS;
  const limits: Http1Limits = {
    maxStartLine: md.integer("http.maxRequestLine", d.maxStartLine, 64),
    maxHeaderLine: md.integer("http.maxHeaderLine", d.maxHeaderLine, 64),
    maxHeaderBytes: md.integer("http.maxHeaderBytes", d.maxHeaderBytes, 256),
    maxHeaderCount: md.integer("http.maxHeaders", d.maxHeaderCount, 1),
    maxChunkLine: md.integer("http.maxChunkLine", d.maxChunkLine, 16),
    maxChunkExtensions: md.integer("http.maxChunkExtensions", d.maxChunkExtensions, 0),
    strictHost: d.strictHost,
  };
  return { tunnel, proxyAgent, headerTimeoutMs, keepAliveMs, limits };
}
