import assert from "node:assert/strict";
import { run } from "./harness.ts";

/**
 * A CA made the way GOST's page says (`openssl genrsa` + `openssl req -x509`), or with an
 * ECDSA key, its key 0600 as snoop requires. In `dir`, or in a new temporary directory the
 * caller removes.
 */
export async function opensslCa(
  opts: { kind?: "rsa" | "ecdsa"; dir?: string; name?: string } = {},
): Promise<{ dir: string; cert: string; key: string }> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "snoop-ca-" });
  const key = `${dir}/ca.key`, cert = `${dir}/ca.crt`;
  const gen = opts.kind === "ecdsa"
    ? await run("openssl", ["ecparam", "-genkey", "-name", "prime256v1", "-out", key])
    : await run("openssl", ["genrsa", "-out", key, "2048"]);
  assert.equal(gen.code, 0, gen.stderr);
  const req = await run("openssl", [
    ...["req", "-new", "-x509", "-days", "2", "-key", key, "-out", cert],
    ...["-subj", `/CN=${opts.name ?? "Test MITM CA"}`],
  ]);
  assert.equal(req.code, 0, req.stderr);
  await Deno.chmod(key, 0o600);
  return { dir, cert, key };
}
