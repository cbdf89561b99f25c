import assert from "node:assert/strict";
import { needs, run, startSnoop, testCert } from "../helpers/harness.ts";
import { ensureCa, trustInstructions } from "../../src/cli/ca_command.ts";

/**
 * The trust hints `snoop ca` (and the main job's first run) print, followed by real clients
 * through snoop's interception: npm, whose configured `cafile` wins over NODE_EXTRA_CA_CERTS,
 * and git, which reads neither but `http.sslCAInfo`. Each client first fails the way users
 * saw it, then succeeds with the hint's setting.
 */

/** An HTTPS origin on localhost: an npm packument and a git "dumb HTTP" ref list. */
function startOrigin(cert: { cert: string; key: string }) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, ...cert, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/left-pad") {
      return Response.json({
        name: "left-pad",
        "dist-tags": { latest: "9.9.9" },
        versions: { "9.9.9": { name: "left-pad", version: "9.9.9" } },
      });
    }
    if (path === "/repo.git/info/refs") {
      return new Response(`${"ab".repeat(20)}\trefs/heads/main\n`, {
        headers: { "content-type": "text/plain" },
      });
    }
    return new Response("not found", { status: 404 });
  });
  return server;
}

Deno.test("snoop ca: the trust hints name npm's cafile, git's sslCAInfo and Java's keytool", () => {
  const text = trustInstructions("/d/ca.crt");
  assert.match(text, /npm config set cafile \/d\/ca\.crt/);
  assert.match(text, /cafile setting wins over NODE_EXTRA_CA_CERTS/);
  assert.match(text, /SELF_SIGNED_CERT_IN_CHAIN/);
  assert.match(text, /git config --global http\.sslCAInfo \/d\/ca\.crt/);
  assert.match(text, /keytool -importcert -cacerts -alias snoop -file \/d\/ca\.crt/);
});

Deno.test({
  name: "snoop ca hints, followed: npm with cafile and git with http.sslCAInfo through snoop",
  ignore: needs("npm", "git", "curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-ca-hints-" });
    const ca = await ensureCa(`${home}/ca`);
    const other = await ensureCa(`${home}/other-ca`);
    const cert = await testCert();
    const origin = startOrigin({ cert: cert.cert, key: cert.key });
    const snoop = await startSnoop(`
services:
  - name: mitm
    addr: 127.0.0.1:0
    handler:
      type: http
      metadata:
        sniffing: true
        mitm.certFile: ${ca.certFile}
        mitm.keyFile: ${ca.keyFile}
        mitm.upstreamCA: ${cert.certFile}
`);
    const proxy = `http://127.0.0.1:${snoop.port()}`;
    const base = `https://localhost:${origin.addr.port}`;
    const env = { HOME: home, npm_config_userconfig: `${home}/npmrc`, NO_PROXY: "", no_proxy: "" };
    await Deno.writeTextFile(`${home}/npmrc`, "");
    const npm = (...args: string[]) =>
      run("npm", [
        "view",
        "left-pad",
        "version",
        `--registry=${base}/`,
        `--https-proxy=${proxy}`,
        `--proxy=${proxy}`,
        `--cache=${home}/npm-cache`,
        "--fetch-retries=0",
        ...args,
      ], { env: { ...env, NODE_EXTRA_CA_CERTS: ca.certFile }, timeoutMs: 60_000 });
    try {
      // A cafile configured for something else (a company CA, say): NODE_EXTRA_CA_CERTS
      // no longer counts, and npm rejects snoop's certificate.
      const before = await npm(`--cafile=${other.certFile}`);
      assert.notEqual(before.code, 0, before.stdout);
      assert.match(before.stderr, /SELF_SIGNED_CERT_IN_CHAIN|self.signed certificate/i);
      // The hint: npm's own cafile set to snoop's CA.
      const after = await npm(`--cafile=${ca.certFile}`);
      assert.equal(after.code, 0, after.stderr);
      assert.equal(after.stdout.trim(), "9.9.9");

      // git: without http.sslCAInfo it refuses snoop's certificate; with it, it lists refs.
      // GIT_SSL_CAINFO wins over git's config (this machine sets it): taken out of the
      // environment, as a user who follows the hint has it.
      const git = () =>
        run("env", [
          "-u",
          "GIT_SSL_CAINFO",
          "git",
          "-c",
          `http.proxy=${proxy}`,
          "ls-remote",
          `${base}/repo.git`,
        ], { env: { ...env, GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1" } });
      const refused = await git();
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /certificate/i);
      // The hint, as printed: git config --global (HOME is this test's directory).
      const set = await run("git", ["config", "--global", "http.sslCAInfo", ca.certFile], { env });
      assert.equal(set.code, 0, set.stderr);
      const listed = await git();
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stdout, `${"ab".repeat(20)}\trefs/heads/main\n`);
    } finally {
      await snoop.stop(0);
      await origin.shutdown();
      await Deno.remove(home, { recursive: true });
    }
  },
});

/** A Java HTTPS client through a proxy, run from source (java File.java). */
const FETCH_JAVA = `
import java.net.*;
import java.io.*;
public class Fetch {
  public static void main(String[] a) throws Exception {
    Proxy p = new Proxy(Proxy.Type.HTTP, new InetSocketAddress("127.0.0.1", Integer.parseInt(a[1])));
    HttpURLConnection c = (HttpURLConnection) new URL(a[0]).openConnection(p);
    try (InputStream in = c.getInputStream()) {
      System.out.print(c.getResponseCode() + " " + new String(in.readAllBytes(), "UTF-8"));
    }
  }
}
`;

Deno.test({
  name: "snoop ca hints, followed: Java trusts snoop's CA once keytool imports it",
  ignore: needs("java", "keytool"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-ca-java-" });
    const ca = await ensureCa(`${home}/ca`);
    const cert = await testCert();
    const origin = startOrigin({ cert: cert.cert, key: cert.key });
    const snoop = await startSnoop(`
services:
  - name: mitm
    addr: 127.0.0.1:0
    handler:
      type: http
      metadata:
        sniffing: true
        mitm.certFile: ${ca.certFile}
        mitm.keyFile: ${ca.keyFile}
        mitm.upstreamCA: ${cert.certFile}
`);
    const url = `https://localhost:${origin.addr.port}/left-pad`;
    await Deno.writeTextFile(`${home}/Fetch.java`, FETCH_JAVA);
    // The hint imports into the JDK's cacerts (-cacerts); here into a copy of the same kind
    // of store, so the machine's JDK is left as it was.
    const store = `${home}/cacerts.p12`;
    const java = (trustStore?: string) =>
      run("java", [
        ...(trustStore
          ? [
            `-Djavax.net.ssl.trustStore=${trustStore}`,
            "-Djavax.net.ssl.trustStorePassword=changeit",
          ]
          : []),
        `${home}/Fetch.java`,
        url,
        String(snoop.port()),
      ], { timeoutMs: 60_000 });
    try {
      const before = await java();
      assert.notEqual(before.code, 0, before.stdout);
      assert.match(before.stderr, /PKIX|certification path/);
      const imported = await run("keytool", [
        "-importcert",
        "-keystore",
        store,
        "-storetype",
        "PKCS12",
        "-alias",
        "snoop",
        "-file",
        ca.certFile,
        "-storepass",
        "changeit",
        "-noprompt",
      ]);
      assert.equal(imported.code, 0, imported.stderr);
      const after = await java(store);
      assert.equal(after.code, 0, after.stderr);
      assert.match(after.stdout, /^200 \{"name":"left-pad"/);
    } finally {
      await snoop.stop(0);
      await origin.shutdown();
      await Deno.remove(home, { recursive: true });
    }
  },
});
