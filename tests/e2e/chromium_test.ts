import assert from "node:assert/strict";
import { needs, run, startOrigin, startSnoop, startWebhook, testCert } from "../helpers/harness.ts";
import { headlessChromium } from "../helpers/chromium.ts";
import { CertificateAuthority } from "../../src/mitm/ca.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

const PAGE = `<!doctype html><html><head><link rel="stylesheet" href="/style.css">
<script src="/app.js"></script></head><body><img src="/logo.svg"><p>page</p></body></html>`;

Deno.test({
  name:
    "chromium, trusting snoop's CA, loads a page and its resources over h2 through the proxy; every resource is recorded",
  ignore: needs("chromium", "certutil", "openssl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-chromium-" });
    const origin = await testCert();
    const server = await startOrigin((req) => {
      const path = new URL(req.url).pathname;
      const types: Record<string, [string, string]> = {
        "/": ["text/html", PAGE],
        "/style.css": ["text/css", "p { color: red }"],
        "/app.js": ["text/javascript", "document.documentElement.dataset.js = 'ran';"],
        "/logo.svg": [
          "image/svg+xml",
          '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>',
        ],
      };
      const [type, body] = types[path] ?? ["text/plain", "not found"];
      return new Response(body, {
        status: types[path] ? 200 : 404,
        headers: { "content-type": type },
      });
    }, origin);
    const hook = await startWebhook();
    await CertificateAuthority.create(`${home}/ca.crt`, `${home}/ca.key`, "ecdsa");
    const snoop = await startSnoop(`
services:
  - name: browser
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: http
      metadata: { sniffing: true, mitm.certFile: ${home}/ca.crt, mitm.keyFile: ${home}/ca.key, mitm.upstreamCA: ${origin.certFile} }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      // Chromium on Linux trusts what is in $HOME/.pki/nssdb: put the CA there.
      const nssdb = `sql:${home}/.pki/nssdb`;
      await Deno.mkdir(`${home}/.pki/nssdb`, { recursive: true });
      assert.equal((await run("certutil", ["-d", nssdb, "-N", "--empty-password"])).code, 0);
      const add = await run("certutil", [
        "-d",
        nssdb,
        "-A",
        "-t",
        "C,,",
        "-n",
        "snoop",
        "-i",
        `${home}/ca.crt`,
      ]);
      assert.equal(add.code, 0, add.stderr);
      const out = await headlessChromium(home, [
        `--proxy-server=http://127.0.0.1:${snoop.port()}`,
        "--proxy-bypass-list=<-loopback>",
        "--dump-dom",
        `https://localhost:${server.port}/`,
      ]);
      const r = { stdout: out.stdout, stderr: out.stderr };
      assert.match(r.stdout, /data-js="ran"/, r.stderr.slice(-2000));
      const want = ["/", "/style.css", "/app.js", "/logo.svg"];
      let recs: Rec[] = [];
      for (let i = 0; i < 100; i++) {
        recs = (hook.records as Rec[]).filter((x) => x.http && x.http.method === "GET");
        if (want.every((p) => recs.some((x) => x.http.uri === p))) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      for (const path of want) {
        const rec = recs.find((x) => x.http.uri === path);
        assert.ok(rec, `${path} recorded`);
        assert.equal(rec.http.proto, "HTTP/2.0");
        assert.equal(
          rec.http.statusCode,
          200,
          JSON.stringify(recs.map((x) => [x.http.uri, x.http.statusCode, x.err, x.sid])),
        );
        assert.equal(rec.proto, "tls");
        assert.equal(rec.tls.serverName, "localhost");
        assert.equal(rec.tls.proto, "h2");
      }
      assert.match(
        recs.find((x) => x.http.uri === "/")!.http.request.header["User-Agent"][0],
        /Chrome/,
      );
    } finally {
      await snoop.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
