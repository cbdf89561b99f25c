import "reflect-metadata";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { CertificateAuthority } from "../../src/mitm/ca.ts";
import { LeafIssuer } from "../../src/mitm/leaf_issuer.ts";

Deno.test("ca create writes a 0600 key and a CA certificate snoop can load", async () => {
  const d = await Deno.makeTempDir();
  try {
    for (const kind of ["ecdsa", "rsa"] as const) {
      await CertificateAuthority.create(`${d}/${kind}.crt`, `${d}/${kind}.key`, kind);
      assert.equal((await Deno.stat(`${d}/${kind}.key`)).mode! & 0o777, 0o600);
      const ca = await CertificateAuthority.load(`${d}/${kind}.crt`, `${d}/${kind}.key`);
      assert.equal(ca.kind, kind);
      assert.ok(new X509Certificate(ca.certPem).ca);
    }
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("leaf issuer: one issuance for 50 concurrent asks, SAN set, random serial, short validity, LRU bound", async () => {
  const d = await Deno.makeTempDir();
  try {
    await CertificateAuthority.create(`${d}/ca.crt`, `${d}/ca.key`, "ecdsa");
    const ca = await CertificateAuthority.load(`${d}/ca.crt`, `${d}/ca.key`);
    const issuer = new LeafIssuer(ca, 3);
    const contexts = await Promise.all(
      Array.from({ length: 50 }, () => issuer.contextFor("Same.Test")),
    );
    assert.equal(issuer.issued, 1);
    assert.ok(contexts.every((c) => c === contexts[0]));
    await issuer.contextFor("127.0.0.1");
    const caCert = new X509Certificate(ca.certPem);
    const named = new X509Certificate(issuer.certificatePem("same.test")!);
    const byIp = new X509Certificate(issuer.certificatePem("127.0.0.1")!);
    assert.equal(named.subjectAltName, "DNS:same.test");
    assert.equal(byIp.subjectAltName, "IP Address:127.0.0.1");
    assert.ok(named.verify(caCert.publicKey), "signed by the CA");
    assert.equal(named.issuer, caCert.subject);
    assert.equal(named.ca, false);
    assert.notEqual(named.serialNumber, byIp.serialNumber);
    const validity = Date.parse(named.validTo) - Date.parse(named.validFrom);
    assert.ok(validity <= 47 * 86_400_000, "at most 47 days");
    assert.ok(Date.parse(named.validFrom) < Date.now() - 3_600_000, "backdated");
    // One leaf key for every host, and not the CA's.
    assert.equal(
      named.publicKey.export({ format: "pem", type: "spki" }),
      byIp.publicKey.export({ format: "pem", type: "spki" }),
    );
    assert.notEqual(
      named.publicKey.export({ format: "pem", type: "spki" }),
      caCert.publicKey.export({ format: "pem", type: "spki" }),
    );
    await issuer.contextFor("a.test");
    await issuer.contextFor("b.test");
    assert.equal(issuer.issued, 4);
    assert.equal(issuer.cached, 3, "bounded to maxEntries");
    await issuer.contextFor("same.test");
    assert.equal(issuer.issued, 5, "the oldest entry was evicted and is issued again");
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});
