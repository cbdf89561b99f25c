/**
 * The sniffers, by the name `detectProtocol` gives a tunnel's first bytes (plus
 * `websocket`, for a tunnel that follows an upgrade the handler forwarded). A tunnel whose
 * protocol has no sniffer here is `opaque`: it gets the tunnel's own record only.
 */
import type { Protocol } from "../protocol/detect.ts";
import { Http1Sniffer } from "./http1/sniffer.ts";
import { Http2Sniffer } from "./http2/sniffer.ts";
import { OpaqueSniffer } from "./opaque.ts";
import type { SniffContext, Sniffer, SnifferFactory } from "./sniffer.ts";
import { TlsSniffer } from "./tls/sniffer.ts";
import { WebSocketSniffer } from "./websocket/sniffer.ts";

export type { SniffContext, Sniffer, SnifferFactory, SniffOptions } from "./sniffer.ts";

export const SNIFFERS: Readonly<Record<string, SnifferFactory>> = {
  http: (ctx) => new Http1Sniffer(ctx),
  h2: (ctx) => new Http2Sniffer(ctx),
  tls: (ctx) => new TlsSniffer(ctx),
  websocket: (ctx) => new WebSocketSniffer(ctx),
  opaque: (ctx) => new OpaqueSniffer(ctx),
};

/** The sniffer for `protocol`, or the opaque one when snoop reads no such protocol. */
export function snifferFor(
  protocol: Protocol | "websocket" | "opaque",
  ctx: SniffContext,
): Sniffer {
  return (Object.hasOwn(SNIFFERS, protocol) ? SNIFFERS[protocol] : SNIFFERS.opaque)(ctx);
}
