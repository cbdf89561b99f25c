import { parseArgs } from "node:util";
import { CertificateAuthority, type KeyKind } from "../mitm/ca.ts";
import { dataDir } from "../app/main_job.ts";
import { makePrivateDir } from "../util/private_files.ts";

export const CA_USAGE = `snoop ca — create a certificate authority for TLS interception

Usage:
  snoop ca [--kind ecdsa|rsa] [--dir DIR] [--force]

Writes DIR/ca.crt and DIR/ca.key (mode 0600). DIR defaults to $SNOOP_HOME or ~/.snoop,
which the main job uses. An existing CA is kept unless --force.`;

/** How to make clients trust the CA, printed after creating one (and by the main job). */
export function trustInstructions(certFile: string): string {
  return `Trust ${certFile} in the clients whose TLS you want to see:
  curl        curl --cacert ${certFile} -x http://127.0.0.1:8080 https://example.com/
  Node.js     NODE_EXTRA_CA_CERTS=${certFile} node app.js
  npm         npm config set cafile ${certFile}   (or npm --cafile ${certFile} install)
              npm's own cafile setting wins over NODE_EXTRA_CA_CERTS (which is why npm says
              SELF_SIGNED_CERT_IN_CHAIN); npm then trusts this CA alone: unset it
              (npm config delete cafile) when npm no longer goes through snoop
  git         git config --global http.sslCAInfo ${certFile}
              (for one command: git -c http.sslCAInfo=…; GIT_SSL_CAINFO, if set, wins)
  Java        keytool -importcert -cacerts -alias snoop -file ${certFile} -storepass changeit -noprompt
  Deno        DENO_CERT=${certFile} deno run -A app.ts
  Python      REQUESTS_CA_BUNDLE=${certFile} python app.py   (requests; SSL_CERT_FILE for others)
  Debian      cp ${certFile} /usr/local/share/ca-certificates/snoop.crt && update-ca-certificates
  Chromium    certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n snoop -i ${certFile}
              (or Settings → Privacy and security → Security → Manage certificates → Authorities)
Anyone with the key can impersonate any site to those clients: keep ca.key private.`;
}

/** Creates the CA files when missing; returns their paths and whether they are new. */
export async function ensureCa(
  dir: string,
  kind: KeyKind = "ecdsa",
  force = false,
): Promise<{ certFile: string; keyFile: string; created: boolean }> {
  const certFile = `${dir}/ca.crt`, keyFile = `${dir}/ca.key`;
  const exists = await Deno.stat(certFile).then(() => true, () => false);
  if (exists && !force) return { certFile, keyFile, created: false };
  await makePrivateDir(dir);
  await CertificateAuthority.create(certFile, keyFile, kind);
  return { certFile, keyFile, created: true };
}

export async function caCommand(args: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        kind: { type: "string", default: "ecdsa" },
        dir: { type: "string" },
        force: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`snoop ca: ${(e as Error).message}\n\n${CA_USAGE}`);
    return 2;
  }
  if (v.help) {
    console.log(CA_USAGE);
    return 0;
  }
  if (v.kind !== "ecdsa" && v.kind !== "rsa") {
    console.error(`snoop ca: --kind takes ecdsa or rsa, got "${v.kind}"`);
    return 2;
  }
  const dir = dataDir(v.dir);
  const { certFile, keyFile, created } = await ensureCa(dir, v.kind, v.force);
  console.log(
    created
      ? `created ${certFile} and ${keyFile} (${v.kind})`
      : `kept the existing CA in ${dir} (use --force to replace it)`,
  );
  console.log(trustInstructions(certFile));
  return 0;
}
