import { output } from "./processes.ts";

/**
 * Writes into `dir` a CA (`ca.crt`, `ca.key`: ECDSA P-256) and an origin certificate it
 * issued (`origin.crt`, `origin.key`) for localhost and 127.0.0.1. The origin's certificate
 * is issued by the CA rather than self-signed: rustls (Deno's fetch) refuses a self-signed
 * CA certificate as a server's own. Needs openssl.
 */
export async function makeCertificates(dir: string, caName: string): Promise<void> {
  const openssl = (args: string[]) => output("openssl", args);
  await openssl(["ecparam", "-genkey", "-name", "prime256v1", "-out", `${dir}/ca.key`]);
  await openssl([
    "req",
    "-new",
    "-x509",
    "-days",
    "2",
    "-key",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.crt`,
    "-subj",
    `/CN=${caName}`,
  ]);
  await openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    `${dir}/origin.key`,
    "-out",
    `${dir}/origin.csr`,
  ]);
  await Deno.writeTextFile(`${dir}/origin.ext`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    `${dir}/origin.csr`,
    "-CA",
    `${dir}/ca.crt`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    `${dir}/origin.ext`,
    "-out",
    `${dir}/origin.crt`,
  ]);
  await Deno.chmod(`${dir}/ca.key`, 0o600);
}
