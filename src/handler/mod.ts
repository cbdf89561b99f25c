import { autoHandler } from "./auto.ts";
import { forwardHandler } from "./forward.ts";
import type { HandlerFactory } from "./handler.ts";
import { httpHandler } from "./http/handler.ts";
import { socks4Handler } from "./socks4.ts";
import { sniHandler } from "./sni.ts";
import { socks5Handler } from "./socks5.ts";

/** Handlers by their `handler.type` name (GOST's names and aliases). */
export const HANDLERS: Record<string, HandlerFactory> = {
  http: httpHandler,
  socks5: socks5Handler,
  socks: socks5Handler,
  socks4: socks4Handler,
  socks4a: socks4Handler,
  auto: autoHandler,
  tcp: forwardHandler,
  forward: forwardHandler,
  sni: sniHandler,
  // Loaded when a DNS service is configured: dns-packet is idle RSS a proxy need not carry.
  dns: async (deps) => (await import("./dns.ts")).dnsHandler(deps),
};

/** GOST handler types snoop does not implement (so the error can say "not supported"). */
export const GOST_HANDLERS_UNSUPPORTED = [
  "relay",
  "ss",
  "ssu",
  "sshd",
  "unix",
  "udp",
  "rtcp",
  "rudp",
  "runix",
  "red",
  "redir",
  "redirect",
  "redu",
  "tun",
  "tap",
  "tungo",
  "tunnel",
  "http2",
  "http3",
  "masque",
  "file",
  "serial",
  "router",
  "metrics",
];
