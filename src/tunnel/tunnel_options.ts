import { ConfigError } from "../config/config_error.ts";
import type { Metadata } from "../config/metadata.ts";
import { EgressGuard } from "../net/egress_guard.ts";
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
  /** Record each event of a `text/event-stream` response (`sniffing.sse`). */
  sse: boolean;
  /** Events recorded per second per stream (`sniffing.sse.sampleRate`, <0 = all). */
  sseSampleRate: number;
  /** An interim record of a tunnel or stream still open, this often (`sniffing.interval`, 0 = off). */
  intervalMs: number;
  /** Deadline for upstream response headers (`readTimeout`, default 15 s as GOST). */
  readTimeoutMs: number;
  /** Close a tunnel with no traffic either way for this long (`idleTimeout`, default 1 h). */
  idleTimeoutMs: number;
  /** Upstream connect deadline (`dialTimeout`, default 10 s). */
  dialTimeoutMs: number;
  /** TLS interception of sniffed TLS tunnels (needs `sniffing`). */
  mitm?: MitmInterceptor;
  /** Destinations refused before dialling (`egress.deny`, `egress.allow`). */
  egress?: EgressGuard;
}

/** Interim records more often than this would be a flood of records, not a view. */
const MIN_INTERVAL_MS = 100;

export function readTunnelOptions(md: Metadata, mitm?: MitmInterceptor): TunnelOptions {
  const sampleRate = md.number("sniffing.websocket.sampleRate", 10);
  const sseSampleRate = md.number("sniffing.sse.sampleRate", 10);
  const intervalMs = md.duration("sniffing.interval", 0);
  if (intervalMs > 0 && intervalMs < MIN_INTERVAL_MS) {
    throw new ConfigError(
      md.whereOf("sniffing.interval"),
      `expected at least ${MIN_INTERVAL_MS}ms (or 0 = off), got ${intervalMs}ms`,
    );
  }
  return {
    sniffing: md.bool("sniffing", false),
    sniffTimeoutMs: md.duration("sniffing.timeout", 0) || 5000,
    websocket: md.bool("sniffing.websocket", false),
    // GOST's 0 means its default of 10/s.
    sampleRate: sampleRate === 0 ? 10 : sampleRate,
    sse: md.bool("sniffing.sse", false),
    sseSampleRate: sseSampleRate === 0 ? 10 : sseSampleRate,
    intervalMs,
    readTimeoutMs: md.duration("readTimeout", 15_000),
    idleTimeoutMs: md.duration("idleTimeout", 3_600_000),
    dialTimeoutMs: md.duration("dialTimeout", 10_000),
    mitm,
    egress: readEgress(md),
  };
}

function readEgress(md: Metadata): EgressGuard | undefined {
  const deny = md.stringList("egress.deny");
  const allow = md.stringList("egress.allow");
  if (deny.length === 0) {
    if (allow.length > 0) {
      throw new ConfigError(md.whereOf("egress.allow"), "egress.allow needs egress.deny");
    }
    return undefined;
  }
  const guard = EgressGuard.create(deny, allow);
  if (typeof guard === "string") {
    throw new ConfigError(md.whereOf("egress.deny"), `egress: ${guard}`);
  }
  return guard;
}
