import assert from "node:assert/strict";
import { needs, run, startOrigin, startSnoop, startWebhook, testCert } from "../helpers/harness.ts";
import { CertificateAuthority } from "../../src/mitm/ca.ts";

/**
 * A Node.js client (as npm is): CONNECT through the proxy, then node:tls trusting only `caFile`.
 * Prints the response's first line, or `error: <code>` when the handshake fails. Node closes a
 * connection whose certificate it rejects without sending an alert.
 */
const NODE_CLIENT = `
const net = require("node:net"), tls = require("node:tls"), fs = require("node:fs");
const [proxyPort, host, port, caFile] = process.argv.slice(1);
const sock = net.connect(Number(proxyPort), "127.0.0.1", () => {
  sock.write("CONNECT " + host + ":" + port + " HTTP/1.1\\r\\nHost: " + host + ":" + port + "\\r\\n\\r\\n");
});
sock.once("data", (head) => {
  if (!/^HTTP\\/1\\.1 200/.test(head.toString())) { console.log("error: CONNECT " + head); process.exit(0); }
  const t = tls.connect({ socket: sock, servername: host, ca: fs.readFileSync(caFile) }, () => {
    t.write("GET / HTTP/1.1\\r\\nHost: " + host + "\\r\\nConnection: close\\r\\n\\r\\n");
  });
  t.once("data", (d) => { console.log(d.toString().split("\\r\\n")[0]); t.destroy(); });
  t.on("error", (e) => { console.log("error: " + e.code); process.exit(0); });
});
`;

Deno.test({
  name: "mitm: a node:tls client that rejects the CA without an alert is recorded as a rejection",
  ignore: needs("node", "openssl"),
  async fn() {
    const origin = await testCert();
    const dir = await Deno.makeTempDir({ prefix: "snoop-node-" });
    await CertificateAuthority.create(`${dir}/ca.crt`, `${dir}/ca.key`);
    const server = await startOrigin(() => new Response("real origin"), origin);
    const hook = await startWebhook();
    // A long handshake deadline: a rejection must be seen as one, not waited out.
    const snoop = await startSnoop(`
services:
  - name: mitm
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: http
      metadata:
        sniffing: true
        mitm.certFile: ${dir}/ca.crt
        mitm.keyFile: ${dir}/ca.key
        mitm.upstreamCA: ${origin.certFile}
        mitm.passthroughRejected: true
        mitm.handshakeTimeout: 60s
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const client = () =>
        run("node", [
          "-e",
          NODE_CLIENT,
          String(snoop.port()),
          "localhost",
          String(server.port),
          origin.certFile,
        ], {
          timeoutMs: 30_000,
        });
      const first = await client();
      assert.match(first.stdout, /^error: /, first.stderr);
      const [rejected] = await hook.waitFor(1, 20_000) as { err?: string }[];
      assert.match(rejected.err ?? "", /^client rejected the certificate for localhost/);
      const second = await client();
      assert.equal(second.stdout.trim(), "HTTP/1.1 200 OK", "passed through once rejected");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
