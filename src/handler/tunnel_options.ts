import type { Metadata } from "../config/metadata.ts";
import type { MitmInterceptor } from "../mitm/interceptor.ts";

/** Handler options shared by every handler that opens tunnels (GOST's metadata keys). */
export interface TunnelOptions {
  /** Look at the bytes of tunnels and record what protocol they carry (`sniffing`). */
  sniffing: boolean;
  /** Give up sniffing when the client sends nothing this long (`sniffing.timeout`, 0 = 5 s). */
  sniffTimeoutMs: number;
  /** Record WebSocket frames after an upgrade (`sniffing.websocket`). */
  websocket: boolean;
  /** Frames recorded per second per direction (`sniffing.websocket.sampleRate`, <0 = all). */
  sampleRate: number;
  /** Deadline for upstream response headers (`readTimeout`, default 15 s as GOST). */
  readTimeoutMs: number;
  /** Close a tunnel with no traffic either way for this long (`idleTimeout`, default 1 h). */
  idleTimeoutMs: number;
  /** Upstream connect deadline (`dialTimeout`, default 10 s). */
  dialTimeoutMs: number;
  /** TLS interception of sniffed TLS tunnels (needs `sniffing`). */
  mitm?: MitmInterceptor;
}

export function readTunnelOptions(md: Metadata, mitm?: MitmInterceptor): TunnelOptions {
  const sampleRate = md.number("sniffing.websocket.sampleRate", 10);
  return {
    sniffing: md.bool("sniffing", false),
    sniffTimeoutMs: md.duration("sniffing.timeout", 0) || 5000,
    websocket: md.bool("sniffing.websocket", false),
    // GOST's 0 means its default of 10/s.
    sampleRate: sampleRate === 0 ? 10 : sampleRate,
    readTimeoutMs: md.duration("readTimeout", 15_000),
    idleTimeoutMs: md.duration("idleTimeout", 3_600_000),
    dialTimeoutMs: md.duration("dialTimeout", 10_000),
    mitm,
  };
}
