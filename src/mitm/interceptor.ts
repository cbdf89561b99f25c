import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import type { Bypass } from "../bypass/bypass.ts";
import { ConfigError } from "../config/config_error.ts";
import type { Metadata } from "../config/metadata.ts";
import type { Logger } from "../util/log.ts";
import { isIP, splitHostPort } from "../net/address.ts";
import type { BufferedConn } from "../net/buffered_conn.ts";
import { closeQuietly, type Stream } from "../net/stream.ts";
import type { TlsRecord } from "../record/record.ts";
import type { ClientHello } from "../protocol/tls/hello.ts";
import { fingerprintFields } from "../protocol/tls/fingerprint.ts";
import { CaError, CertificateAuthority } from "./ca.ts";
import { LeafIssuer } from "./leaf_issuer.ts";
import type { Duplex } from "node:stream";
import { DuplexStream, streamToDuplex } from "./node_stream.ts";
import type { MitmSettings } from "./mitm_settings.ts";
import { MitmError } from "./mitm_error.ts";

export { MitmError };

/** A TLS handshake that did not finish within `mitm.handshakeTimeout`. */
class HandshakeTimeout extends Error {}

function limitOf(e: unknown): "tls-handshake-timeout" | undefined {
  return e instanceof HandshakeTimeout ? "tls-handshake-timeout" : undefined;
}

export interface MitmOptions {
  /** Offer only this protocol upstream and announce it to the client (`mitm.alpn`). */
  alpn: string;
  /** Hosts this bypass `contains` are not intercepted (`mitm.bypass`). */
  bypass?: Bypass;
  /** Do not verify upstream certificates (`mitm.insecure`). */
  insecure: boolean;
  /** Extra CA certificates (PEM) trusted for upstreams, on top of the system's. */
  upstreamCAs: string[];
  /** Stop intercepting a host once a client rejected our certificate for it. */
  passthroughRejected: boolean;
  handshakeTimeoutMs: number;
}

const TLS_VERSION: Record<string, string> = {
  "TLSv1": "tls1.0",
  "TLSv1.1": "tls1.1",
  "TLSv1.2": "tls1.2",
  "TLSv1.3": "tls1.3",
};

/**
 * TLS termination for sniffed tunnels: the upstream is connected
 * first with the client's SNI and ALPN list, its certificate verified; only then does the
 * client get a certificate for the name it asked for, offering exactly the protocol the
 * upstream chose. A failed upstream verification never becomes a forged certificate the
 * client would trust: the client's connection is closed and the record says why.
 */
export class MitmInterceptor {
  readonly issuer: LeafIssuer;
  readonly rejectedHosts = new Set<string>();
  /** `mitm.upstreamCA`, parsed once. */
  readonly #extraAnchors: X509Certificate[];

  constructor(
    readonly ca: CertificateAuthority,
    readonly options: MitmOptions,
    readonly log: Logger,
  ) {
    this.issuer = new LeafIssuer(ca);
    this.#extraAnchors = options.upstreamCAs.map((pem) => new X509Certificate(pem));
  }

  /** The interceptor for settings `readMitmSettings` found (the CA loaded, files checked). */
  static async fromSettings(
    settings: MitmSettings,
    md: Metadata,
    bypasses: Map<string, Bypass>,
    log: Logger,
  ): Promise<MitmInterceptor> {
    const { certFile, keyFile, bypassName } = settings;
    let bypass: Bypass | undefined;
    if (bypassName) {
      bypass = bypasses.get(bypassName);
      if (!bypass) {
        throw new ConfigError(
          md.whereOf("mitm.bypass"),
          `bypass "${bypassName}" is not defined in bypasses:`,
        );
      }
    }
    let ca: CertificateAuthority;
    try {
      ca = await CertificateAuthority.load(certFile, keyFile);
    } catch (e) {
      if (e instanceof CaError) {
        const key = e.file === keyFile ? "mitm.keyFile" : "mitm.certFile";
        throw new ConfigError(md.whereOf(key), e.message);
      }
      throw e;
    }
    if (await CertificateAuthority.keyIsExposed(keyFile)) {
      log.warn("the CA key file can be read by other users: chmod 600 it", { file: keyFile });
    }
    const upstreamCAs: string[] = [];
    for (const f of settings.caFiles) {
      try {
        const pem = await Deno.readTextFile(f);
        new X509Certificate(pem); // a certificate, or the error names the file
        upstreamCAs.push(pem);
      } catch (e) {
        throw new ConfigError(md.whereOf("mitm.upstreamCA"), `${f}: ${(e as Error).message}`);
      }
    }
    return new MitmInterceptor(ca, {
      alpn: settings.alpn,
      bypass,
      insecure: settings.insecure,
      upstreamCAs,
      passthroughRejected: settings.passthroughRejected,
      handshakeTimeoutMs: settings.handshakeTimeoutMs,
    }, log);
  }

  /**
   * Whether to intercept a connection for `host` (`SNI:443`, or the tunnel target).
   * Clients without ALPN are intercepted too, as HTTP/1.1 (GOST passes them through).
   */
  shouldIntercept(host: string, hello: ClientHello): boolean {
    if (this.options.bypass?.contains(host)) return false;
    if (this.rejectedHosts.has(hello.serverName || host)) return false;
    return hello.alpn.length === 0 || hello.alpn.some((p) => p === "h2" || p === "http/1.1");
  }

  /**
   * Terminates TLS on both sides. `client` has the ClientHello buffered (not yet consumed);
   * `upstream` is the raw connection to the target. Returns the decrypted streams.
   */
  async intercept(
    client: BufferedConn,
    upstream: Stream,
    hello: ClientHello,
    clientHelloRaw: Uint8Array,
    target: string,
  ): Promise<{
    client: DuplexStream;
    upstream: DuplexStream;
    tls: TlsRecord;
    /** How long each side's handshake took (ms): snoop's with the upstream, the client's. */
    handshakeMs: { upstream: number; client: number };
  }> {
    const targetHost = splitHostPort(target).host;
    const name = hello.serverName || targetHost;
    const record: TlsRecord = {
      serverName: hello.serverName,
      cipherSuite: "",
      compressionMethod: 0,
      proto: "",
      version: "",
      clientHello: Buffer.from(clientHelloRaw).toString("hex"),
      serverHello: "",
    };
    if (hello.ech) record.ech = true;
    Object.assign(record, fingerprintFields(clientHelloRaw));
    const offer = this.options.alpn
      ? [this.options.alpn]
      : hello.alpn.filter((p) => p === "h2" || p === "http/1.1");
    const upstreamSocket = tls.connect({
      socket: streamToDuplex(upstream),
      servername: hello.serverName && !isIP(hello.serverName) ? hello.serverName : undefined,
      host: name,
      ALPNProtocols: offer.length ? offer : undefined,
      // Verified below, against the system's roots and then mitm.upstreamCA: handing node
      // `ca: [...roots, ...extra]` made it parse every root again for each connection
      // and left out CAs installed in the system store.
      rejectUnauthorized: false,
    });
    const upstreamStart = performance.now();
    try {
      await this.#handshake(upstreamSocket, "secureConnect", "upstream");
      if (!this.options.insecure) {
        const problem = this.#upstreamProblem(upstreamSocket, name);
        if (problem) throw new Error(problem);
      }
    } catch (e) {
      upstreamSocket.destroy();
      closeQuietly(upstream);
      throw new MitmError(`upstream TLS: ${(e as Error).message}`, record, limitOf(e));
    }
    const upstreamMs = performance.now() - upstreamStart;
    const negotiated = upstreamSocket.alpnProtocol || "";
    const cipher = upstreamSocket.getCipher();
    record.cipherSuite = cipher?.standardName ?? cipher?.name ?? "";
    record.version = TLS_VERSION[upstreamSocket.getProtocol() ?? ""] ??
      String(upstreamSocket.getProtocol());
    record.proto = negotiated;

    let context: tls.SecureContext;
    try {
      context = await this.issuer.contextFor(name);
    } catch (e) {
      upstreamSocket.destroy();
      throw new MitmError(`issuing a certificate for ${name}: ${(e as Error).message}`, record);
    }
    const clientWire = streamToDuplex(client);
    const clientSocket = new tls.TLSSocket(clientWire, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: negotiated ? [negotiated] : undefined,
    });
    const clientStart = performance.now();
    try {
      await this.#handshake(clientSocket, "secure", "client", clientWire);
    } catch (e) {
      clientSocket.destroy();
      upstreamSocket.destroy();
      // A client that stalls has not rejected anything: no passthrough for it.
      if (e instanceof HandshakeTimeout) throw new MitmError(e.message, record, limitOf(e));
      if (this.options.passthroughRejected) this.rejectedHosts.add(name);
      throw new MitmError(
        `client rejected the certificate for ${name}: ${(e as Error).message}`,
        record,
      );
    }
    return {
      client: new DuplexStream(clientSocket, client.localAddr, client.remoteAddr),
      upstream: new DuplexStream(upstreamSocket, upstream.localAddr, upstream.remoteAddr),
      tls: record,
      handshakeMs: { upstream: upstreamMs, client: performance.now() - clientStart },
    };
  }

  /**
   * Why the upstream's certificate is not trusted for `host`, or undefined when it is: its
   * chain verified against the system's roots (node's check during the handshake), or the
   * certificate is one of `mitm.upstreamCA` or signed by one and within its validity; and
   * either way the name matches (RFC 6125, node's checkServerIdentity).
   */
  #upstreamProblem(socket: tls.TLSSocket, host: string): string | undefined {
    const peer = socket.getPeerX509Certificate();
    if (!peer) return "the upstream sent no certificate";
    if (!socket.authorized) {
      const now = Date.now();
      const current = Date.parse(peer.validFrom) <= now && now <= Date.parse(peer.validTo);
      const anchored = this.#extraAnchors.some((anchor) =>
        peer.fingerprint256 === anchor.fingerprint256 ||
        (peer.checkIssued(anchor) && peer.verify(anchor.publicKey))
      );
      if (!anchored || !current) {
        const why = socket.authorizationError;
        return `certificate not trusted: ${why instanceof Error ? why.message : String(why)}`;
      }
    }
    const mismatch = tls.checkServerIdentity(host, socket.getPeerCertificate());
    return mismatch ? mismatch.message : undefined;
  }

  /**
   * Waits for `socket`'s handshake. `wire`, the stream under it, ends when the peer closes:
   * a client that rejects the certificate may close without an alert (node:tls, so npm,
   * does), and the TLS socket over a half-open stream then says nothing until the deadline.
   */
  #handshake(
    socket: tls.TLSSocket,
    event: string,
    side: string,
    wire?: Duplex,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => done(new HandshakeTimeout(`${side} handshake timed out`)),
        this.options.handshakeTimeoutMs,
      );
      const done = (err?: Error) => {
        clearTimeout(timer);
        socket.off(event, onOk);
        socket.off("error", done);
        socket.off("close", onClose);
        wire?.off("end", onClose);
        if (err) reject(err);
        else resolve();
      };
      const onOk = () => done();
      const onClose = () => done(new Error(`${side} closed the connection during the handshake`));
      socket.once(event, onOk);
      socket.once("error", done);
      socket.once("close", onClose);
      wire?.once("end", onClose);
    });
  }
}
