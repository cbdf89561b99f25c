import { Buffer } from "node:buffer";
import { ipBytes } from "../net/address.ts";
import type { CertificateAuthority } from "./ca.ts";
import { x509Library } from "./x509_library.ts";
import {
  bytesOf,
  children,
  ecdsaSignatureToDer,
  positiveInteger,
  readTlv,
  sequence,
  time,
  tlv,
} from "./der.ts";

// Object identifiers, DER-encoded (tag 06, length, value).
const OID_COMMON_NAME = Uint8Array.of(0x06, 0x03, 0x55, 0x04, 0x03);
const OID_ORGANIZATION = Uint8Array.of(0x06, 0x03, 0x55, 0x04, 0x0a);
const OID_SUBJECT_ALT_NAME = Uint8Array.of(0x06, 0x03, 0x55, 0x1d, 0x11);
/** RFC 5280's ub-common-name: a longer host name is only in the subjectAltName. */
const MAX_COMMON_NAME = 64;

const utf8 = (s: string) => tlv(0x0c, new TextEncoder().encode(s));
const attribute = (oid: Uint8Array, value: string) => tlv(0x31, sequence(oid, utf8(value)));

/**
 * Leaf certificates from a prototype. Building one with @peculiar/x509 is ASN.1 object work
 * on the event loop, too slow per host; it is done once per CA and leaf key, and every leaf after
 * that copies the prototype's DER, changing only what differs per host, then is signed with
 * WebCrypto (native, off the event loop).
 *
 *   Certificate    ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature BIT STRING }
 *   TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature, issuer, validity,
 *                                 subject, subjectPublicKeyInfo, [3] extensions }
 *
 * Per leaf: serialNumber, validity, subject (CN=host unless an IP or over 64 bytes, O=snoop)
 * and the subjectAltName extension. The rest (issuer as the CA encodes it, the leaf's
 * public key, basicConstraints, keyUsage, extKeyUsage, authorityKeyIdentifier) is copied.
 */
export class LeafTemplate {
  private constructor(
    readonly ca: CertificateAuthority,
    /** [0] version, as in the prototype. */
    readonly version: Uint8Array,
    /** The AlgorithmIdentifier of the CA's signature (in the TBS and after it). */
    readonly algorithm: Uint8Array,
    readonly issuer: Uint8Array,
    readonly publicKeyInfo: Uint8Array,
    /** The prototype's extensions, in order, with `null` where the subjectAltName goes. */
    readonly extensions: (Uint8Array | null)[],
  ) {}

  static async create(ca: CertificateAuthority, publicKey: CryptoKey): Promise<LeafTemplate> {
    const x509 = await x509Library();
    const now = Date.now();
    const prototype = await x509.X509CertificateGenerator.create({
      serialNumber: "01",
      subject: "CN=prototype.invalid, O=snoop",
      // The CA's name exactly as encoded in its certificate: strict verifiers (rustls,
      // webpki) compare the bytes, so re-encoding it from text can break the chain.
      issuer: ca.cert.subjectName,
      notBefore: new Date(now),
      notAfter: new Date(now + 1000),
      signingKey: ca.signingKey,
      publicKey,
      signingAlgorithm: ca.signingAlgorithm,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "prototype.invalid" }]),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      ],
    });
    const der = new Uint8Array(prototype.rawData);
    const [tbs, algorithm] = children(der, readTlv(der, 0));
    const [version, , , issuer, , , spki, extensionsWrapper] = children(der, tbs);
    const extensionList = children(der, children(der, extensionsWrapper)[0]);
    const extensions = extensionList.map((ext) => {
      const oid = bytesOf(der, children(der, ext)[0]);
      return Buffer.compare(oid, OID_SUBJECT_ALT_NAME) === 0 ? null : bytesOf(der, ext).slice();
    });
    return new LeafTemplate(
      ca,
      bytesOf(der, version).slice(),
      bytesOf(der, algorithm).slice(),
      bytesOf(der, issuer).slice(),
      bytesOf(der, spki).slice(),
      extensions,
    );
  }

  /** A certificate for `host` (a DNS name or an IP address), DER. */
  async issue(
    host: string,
    serial: Uint8Array,
    notBefore: number,
    notAfter: number,
  ): Promise<Uint8Array> {
    const ip = ipBytes(host);
    const subject = sequence(
      ...(ip || host.length > MAX_COMMON_NAME ? [] : [attribute(OID_COMMON_NAME, host)]),
      attribute(OID_ORGANIZATION, "snoop"),
    );
    // GeneralName: dNSName [2] IA5String, iPAddress [7] OCTET STRING (both implicit).
    const generalName = ip ? tlv(0x87, ip) : tlv(0x82, new TextEncoder().encode(host));
    const subjectAltName = sequence(OID_SUBJECT_ALT_NAME, tlv(0x04, sequence(generalName)));
    const tbs = sequence(
      this.version,
      positiveInteger(serial),
      this.algorithm,
      this.issuer,
      sequence(time(notBefore), time(notAfter)),
      subject,
      this.publicKeyInfo,
      tlv(0xa3, sequence(...this.extensions.map((e) => e ?? subjectAltName))),
    );
    const raw = new Uint8Array(
      await crypto.subtle.sign(this.ca.signingAlgorithm, this.ca.signingKey, tbs),
    );
    const signature = this.ca.kind === "ecdsa" ? ecdsaSignatureToDer(raw) : raw;
    return sequence(tbs, this.algorithm, tlv(0x03, Uint8Array.of(0), signature));
  }
}
