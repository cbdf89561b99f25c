import "reflect-metadata";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { CaError, CertificateAuthority } from "../../src/mitm/ca.ts";
import { LeafIssuer } from "../../src/mitm/leaf_issuer.ts";
import { needs, run } from "../helpers/harness.ts";

async function openssl(...args: string[]) {
  const r = await run("openssl", args);
  assert.equal(r.code, 0, r.stderr);
}

Deno.test({
  name: "ca loads PKCS#1, PKCS#8 and SEC1 keys and rejects missing, mismatched and non-CA files",
  ignore: needs("openssl"),
  async fn() {
    const d = await Deno.makeTempDir();
    try {
      await openssl("genrsa", "-traditional", "-out", `${d}/rsa1.key`, "2048");
      await openssl("pkcs8", "-topk8", "-nocrypt", "-in", `${d}/rsa1.key`, "-out", `${d}/rsa8.key`);
      await openssl(
        "req",
        "-new",
        "-x509",
        "-days",
        "30",
        "-key",
        `${d}/rsa1.key`,
        "-out",
        `${d}/rsa.crt`,
        "-subj",
        "/CN=RSA CA",
      );
      await openssl("ecparam", "-genkey", "-name", "prime256v1", "-out", `${d}/ec.key`);
      await openssl(
        "req",
        "-new",
        "-x509",
        "-days",
        "30",
        "-key",
        `${d}/ec.key`,
        "-out",
        `${d}/ec.crt`,
        "-subj",
        "/CN=EC CA",
      );
      assert.match(await Deno.readTextFile(`${d}/rsa1.key`), /BEGIN RSA PRIVATE KEY/);
      assert.match(await Deno.readTextFile(`${d}/ec.key`), /BEGIN EC PRIVATE KEY/);
      assert.equal((await CertificateAuthority.load(`${d}/rsa.crt`, `${d}/rsa1.key`)).kind, "rsa");
      assert.equal((await CertificateAuthority.load(`${d}/rsa.crt`, `${d}/rsa8.key`)).kind, "rsa");
      assert.equal((await CertificateAuthority.load(`${d}/ec.crt`, `${d}/ec.key`)).kind, "ecdsa");
      await assert.rejects(
        () => CertificateAuthority.load(`${d}/nope.crt`, `${d}/ec.key`),
        (e) => e instanceof CaError && /nope\.crt: file not found/.test(e.message),
      );
      await assert.rejects(
        () => CertificateAuthority.load(`${d}/rsa.crt`, `${d}/ec.key`),
        /does not belong to the certificate/,
      );
      await assert.rejects(
        () => CertificateAuthority.load(`${d}/rsa.crt`, `${d}/rsa.crt`),
        /not a private key/,
      );
      // A leaf (CA:FALSE) cannot sign others.
      await openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=leaf",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        `${d}/leaf.key`,
        "-out",
        `${d}/leaf.crt`,
      );
      await assert.rejects(
        () => CertificateAuthority.load(`${d}/leaf.crt`, `${d}/leaf.key`),
        /not a CA certificate/,
      );
      await Deno.chmod(`${d}/ec.key`, 0o644);
      assert.equal(await CertificateAuthority.keyIsExposed(`${d}/ec.key`), true);
      await Deno.chmod(`${d}/ec.key`, 0o600);
      assert.equal(await CertificateAuthority.keyIsExposed(`${d}/ec.key`), false);
    } finally {
      await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "leaf template: names, IPv4, IPv6 and a 70-byte name verify with openssl against RSA and ECDSA CAs",
  ignore: needs("openssl"),
  async fn() {
    const d = await Deno.makeTempDir();
    try {
      for (const kind of ["ecdsa", "rsa"] as const) {
        await CertificateAuthority.create(`${d}/${kind}.crt`, `${d}/${kind}.key`, kind);
        const ca = await CertificateAuthority.load(`${d}/${kind}.crt`, `${d}/${kind}.key`);
        const issuer = new LeafIssuer(ca);
        const long = `${"a".repeat(60)}.example`; // 68 bytes: over ub-common-name
        for (const host of ["www.example.com", "127.0.0.1", "::1", long]) {
          await issuer.contextFor(host);
          const pem = issuer.certificatePem(host)!;
          await Deno.writeTextFile(`${d}/leaf.pem`, pem);
          const verify = await run("openssl", [
            "verify",
            "-CAfile",
            `${d}/${kind}.crt`,
            "-purpose",
            "sslserver",
            `${d}/leaf.pem`,
          ]);
          assert.equal(verify.code, 0, `${kind} ${host}: ${verify.stdout}${verify.stderr}`);
          const leaf = new X509Certificate(pem);
          assert.ok(
            host.includes(":") || host.startsWith("127")
              ? leaf.checkIP(host)
              : leaf.checkHost(host),
          );
          const text =
            (await run("openssl", ["x509", "-noout", "-text", "-in", `${d}/leaf.pem`])).stdout;
          assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
          assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature/);
          assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication/);
          assert.match(text, /X509v3 Authority Key Identifier:/);
          assert.match(text, /Version: 3 \(0x2\)/);
          if (host === "www.example.com") assert.match(leaf.subject, /CN=www\.example\.com/);
          else assert.doesNotMatch(leaf.subject, /CN=/, `${host}: the name is only in the SAN`);
        }
      }
    } finally {
      await Deno.remove(d, { recursive: true });
    }
  },
});
