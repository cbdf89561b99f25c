import { ConfigError } from "../config/config_error.ts";
import type { Metadata } from "../config/metadata.ts";

/** The `mitm.*` handler options, read and checked before anything TLS is loaded. */
export interface MitmSettings {
  certFile: string;
  keyFile: string;
  alpn: string;
  bypassName: string;
  insecure: boolean;
  caFiles: string[];
  passthroughRejected: boolean;
  handshakeTimeoutMs: number;
}

/**
 * Reads the `mitm.*` options; undefined when no CA is configured (no interception). Kept
 * apart from the interceptor so a proxy that does not intercept never loads node:tls and
 * node:stream (a few MiB of idle RSS).
 */
export function readMitmSettings(md: Metadata): MitmSettings | undefined {
  const certFile = md.string(["mitm.certFile", "mitm.caCertFile"]);
  const keyFile = md.string(["mitm.keyFile", "mitm.caKeyFile"]);
  const alpn = md.string("mitm.alpn");
  const bypassName = md.string("mitm.bypass");
  const insecure = md.bool("mitm.insecure", false);
  const caFiles = md.stringList("mitm.upstreamCA");
  const passthroughRejected = md.bool("mitm.passthroughRejected", false);
  const handshakeTimeoutMs = md.duration("mitm.handshakeTimeout", 10_000);
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    const missing = certFile ? "mitm.keyFile" : "mitm.certFile";
    throw new ConfigError(
      md.whereOf(certFile ? "mitm.certFile" : "mitm.keyFile"),
      `${missing} must be set too`,
    );
  }
  if (alpn && !["h2", "http/1.1"].includes(alpn)) {
    throw new ConfigError(md.whereOf("mitm.alpn"), `expected h2 or http/1.1, got "${alpn}"`);
  }
  return {
    certFile,
    keyFile,
    alpn,
    bypassName,
    insecure,
    caFiles,
    passthroughRejected,
    handshakeTimeoutMs,
  };
}
