import type * as x509 from "@peculiar/x509";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { pemLabels, toPem } from "./pem.ts";
import { x509Library } from "./x509_library.ts";

/** Why a CA could not be loaded, with the file it concerns. */
export class CaError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = "CaError";
  }
}

export type KeyKind = "rsa" | "ecdsa";

/**
 * A certificate authority snoop signs leaf certificates with. The key can be PKCS#1
 * (`openssl genrsa`), PKCS#8 or SEC1 (`openssl ecparam -genkey`); it is converted once to a
 * WebCrypto key, so every signature is native and asynchronous (never JavaScript big-number
 * maths on the event loop).
 */
export class CertificateAuthority {
  private constructor(
    readonly cert: x509.X509Certificate,
    readonly certPem: string,
    readonly signingKey: CryptoKey,
    readonly signingAlgorithm: RsaHashedImportParams | EcKeyImportParams & { hash: string },
    readonly kind: KeyKind,
  ) {}

  /** Loads and checks a CA: both files readable, the key matching the certificate. */
  static async load(certFile: string, keyFile: string): Promise<CertificateAuthority> {
    const read = async (file: string) => {
      try {
        return await Deno.readTextFile(file);
      } catch (e) {
        throw new CaError(
          file,
          e instanceof Deno.errors.NotFound
            ? "file not found"
            : `cannot read: ${(e as Error).message}`,
        );
      }
    };
    // One after the other: with both missing, the error always names the certificate.
    const certPem = await read(certFile);
    const keyPem = await read(keyFile);
    if (!pemLabels(certPem).includes("CERTIFICATE")) {
      throw new CaError(certFile, "no PEM CERTIFICATE block");
    }
    let nodeCert: X509Certificate;
    try {
      nodeCert = new X509Certificate(certPem);
    } catch (e) {
      throw new CaError(certFile, `not a valid certificate: ${(e as Error).message}`);
    }
    let nodeKey;
    try {
      nodeKey = createPrivateKey(keyPem);
    } catch (e) {
      throw new CaError(
        keyFile,
        `not a private key in PEM (PKCS#1, PKCS#8 or SEC1): ${(e as Error).message}`,
      );
    }
    if (!nodeCert.checkPrivateKey(nodeKey)) {
      throw new CaError(keyFile, `this key does not belong to the certificate in ${certFile}`);
    }
    if (!nodeCert.ca) {
      throw new CaError(certFile, "not a CA certificate (basicConstraints CA:FALSE)");
    }
    const der = new Uint8Array(nodeKey.export({ format: "der", type: "pkcs8" }) as Uint8Array);
    const type = nodeKey.asymmetricKeyType;
    let alg: CertificateAuthority["signingAlgorithm"];
    let kind: KeyKind;
    if (type === "rsa") {
      alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
      kind = "rsa";
    } else if (type === "ec") {
      const curve = nodeKey.asymmetricKeyDetails?.namedCurve;
      const namedCurve = curve === "prime256v1" ? "P-256" : curve === "secp384r1" ? "P-384" : "";
      if (!namedCurve) {
        throw new CaError(keyFile, `EC curve ${curve} is not supported (P-256 and P-384 are)`);
      }
      alg = { name: "ECDSA", namedCurve, hash: namedCurve === "P-384" ? "SHA-384" : "SHA-256" };
      kind = "ecdsa";
    } else {
      throw new CaError(keyFile, `${type} keys are not supported (RSA and ECDSA are)`);
    }
    const signingKey = await crypto.subtle.importKey("pkcs8", der, alg, false, ["sign"]);
    const library = await x509Library();
    return new CertificateAuthority(
      new library.X509Certificate(certPem),
      certPem,
      signingKey,
      alg,
      kind,
    );
  }

  /** True when group or others may read the key file (a warning, as OpenSSH gives). */
  static async keyIsExposed(keyFile: string): Promise<boolean> {
    if (Deno.build.os === "windows") return false;
    const mode = (await Deno.stat(keyFile)).mode;
    return mode !== null && (mode & 0o077) !== 0;
  }

  /**
   * Creates a new CA (10 years, name-constrained to nothing: it can sign any host) and writes
   * `certFile` (0644) and `keyFile` (0600, PKCS#8).
   */
  static async create(
    certFile: string,
    keyFile: string,
    kind: KeyKind = "ecdsa",
    commonName = "snoop CA",
  ): Promise<void> {
    const alg = kind === "rsa"
      ? {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      }
      : { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
    const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
    const now = Date.now();
    const x509 = await x509Library();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=${commonName}, O=snoop`,
      notBefore: new Date(now - 2 * 86_400_000),
      notAfter: new Date(now + 3650 * 86_400_000),
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
    await writePrivateFile(keyFile, toPem("PRIVATE KEY", pkcs8));
    await Deno.writeTextFile(certFile, cert.toString("pem") + "\n", { mode: 0o644 });
  }
}

/**
 * Writes `text` to `path` as a new file that is 0600 from its first byte, whatever the umask
 * and whatever mode a file there had: a file of its own, renamed over `path` once written.
 * (Writing into an existing file would keep that file's mode while the key is in it.)
 */
async function writePrivateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  const file = await Deno.open(tmp, { createNew: true, write: true, mode: 0o600 });
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, 0o600);
    const bytes = new TextEncoder().encode(text);
    for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
  } catch (e) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  file.close();
  await Deno.rename(tmp, path);
}

/** A random positive 16-byte serial (RFC 5280 §4.1.2.2: positive, at most 20 bytes). */
/** 16 random bytes, positive and without a leading zero (RFC 5280 §4.1.2.2: ≤ 20 octets). */
export function randomSerialBytes(): Uint8Array {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] &= 0x7f;
  b[0] |= 0x01;
  return b;
}

export function randomSerial(): string {
  return [...randomSerialBytes()].map((x) => x.toString(16).padStart(2, "0")).join("");
}
