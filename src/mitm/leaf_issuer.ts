import tls from "node:tls";
import { setImmediate } from "node:timers";
import { type CertificateAuthority, randomSerialBytes } from "./ca.ts";
import { LeafTemplate } from "./leaf_template.ts";
import { toPem } from "./pem.ts";

const DAY = 86_400_000;

/**
 * Lets I/O run: promise continuations alone would never give it a turn. `setImmediate`
 * rather than `setTimeout(0)`, whose clamp added milliseconds per certificate.
 */
const nextMacrotask = () => new Promise<void>((r) => setImmediate(r));

/**
 * Issuances running at once. Signing is native and asynchronous, but encoding the
 * certificate and building the TLS context are synchronous: 50 new hosts at once would run
 * those back to back and stall every connection for tens of ms (`deno task bench certs`).
 */
const MAX_CONCURRENT_ISSUES = 2;

/**
 * Issues leaf certificates for intercepted hosts. One ECDSA P-256 key pair serves every
 * leaf (not the CA's key); each certificate has a random serial, SAN set (DNS name or IP),
 * validity from one day back to 45 days ahead (under the 47-day ceiling), and is built from a
 * DER template (LeafTemplate) and signed by the CA with native WebCrypto. A bounded LRU cache keeps TLS contexts; concurrent requests
 * for one new host share a single issuance.
 */
export class LeafIssuer {
  readonly #cache = new Map<string, { context: tls.SecureContext; pem: string; expires: number }>();
  readonly #pending = new Map<string, Promise<tls.SecureContext>>();
  #leafKeys: Promise<{ keys: CryptoKeyPair; pem: string }>;
  /** Built on first use, from the CA and the leaf key (see LeafTemplate). */
  #template?: Promise<LeafTemplate>;
  #running = 0;
  readonly #queue: (() => void)[] = [];
  issued = 0;

  constructor(readonly ca: CertificateAuthority, readonly maxEntries = 1000) {
    this.#leafKeys = (async () => {
      const keys = await crypto.subtle.generateKey(
        { name: "ECDSA", namedCurve: "P-256" },
        true,
        ["sign", "verify"],
      ) as CryptoKeyPair;
      return {
        keys,
        pem: toPem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
      };
    })();
  }

  /** A TLS context presenting a certificate for `host` (a DNS name or an IP). */
  contextFor(host: string): Promise<tls.SecureContext> {
    const name = host.toLowerCase();
    const hit = this.#cache.get(name);
    if (hit && hit.expires > Date.now()) {
      // Refresh its place in the LRU order.
      this.#cache.delete(name);
      this.#cache.set(name, hit);
      return Promise.resolve(hit.context);
    }
    const pending = this.#pending.get(name);
    if (pending) return pending;
    const issuing = this.#issue(name).finally(() => this.#pending.delete(name));
    this.#pending.set(name, issuing);
    return issuing;
  }

  async #issue(name: string): Promise<tls.SecureContext> {
    if (this.#running >= MAX_CONCURRENT_ISSUES) await new Promise<void>((r) => this.#queue.push(r));
    this.#running++;
    try {
      await nextMacrotask();
      return await this.#sign(name);
    } finally {
      this.#running--;
      this.#queue.shift()?.();
    }
  }

  async #sign(name: string): Promise<tls.SecureContext> {
    const { keys, pem } = await this.#leafKeys;
    this.#template ??= LeafTemplate.create(this.ca, keys.publicKey);
    const template = await this.#template;
    const now = Date.now();
    const cert = toPem(
      "CERTIFICATE",
      await template.issue(name, randomSerialBytes(), now - DAY, now + 45 * DAY),
    );
    await nextMacrotask();
    // The chain sent is the leaf then the CA, so clients that have the CA can build it.
    const context = tls.createSecureContext({
      cert: cert + this.ca.certPem,
      key: pem,
    });
    this.issued++;
    this.#cache.set(name, { context, pem: cert, expires: now + 40 * DAY });
    while (this.#cache.size > this.maxEntries) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    return context;
  }

  /** The certificate (PEM) currently served for `host`, if one was issued. */
  certificatePem(host: string): string | undefined {
    return this.#cache.get(host.toLowerCase())?.pem;
  }

  get cached(): number {
    return this.#cache.size;
  }
}
