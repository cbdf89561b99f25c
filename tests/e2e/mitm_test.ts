import assert from "node:assert/strict";
import {
  curl,
  needs,
  run,
  startOrigin,
  startSnoop,
  startWebhook,
  testCert,
} from "../helpers/harness.ts";
import { startAlpnOrigin } from "../helpers/tls_origins.ts";
import { opensslCa } from "../helpers/openssl_ca.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

const mitmService = (
  hook: string,
  ca: { cert: string; key: string },
  extra = "",
  handler = "http",
) => `
services:
  - name: mitm
    addr: 127.0.0.1:0
    recorders: [{ name: hook, metadata: { http.body: true } }]
    handler:
      type: ${handler}
      metadata:
        sniffing: true
        mitm.certFile: ${ca.cert}
        mitm.keyFile: ${ca.key}
${extra}
recorders: [{ name: hook, http: { url: "${hook}" } }]
`;

Deno.test({
  name: "mitm: curl --http1.1 and --http2 through http and socks5, bodies recorded and decodable",
  ignore: needs("curl", "openssl"),
  async fn() {
    const origin = await testCert();
    const ca = await opensslCa();
    const server = await startOrigin(
      (req, body) => new Response(`secret ${new URL(req.url).pathname} ${body}`),
      origin,
    );
    const hook = await startWebhook();
    const trust = `        mitm.upstreamCA: ${origin.certFile}`;
    const http = await startSnoop(mitmService(hook.url, ca, trust));
    const socks = await startSnoop(mitmService(hook.url, ca, trust, "socks5"));
    try {
      const url = `https://localhost:${server.port}`;
      const cases = [
        ["--http1.1", "-x", `127.0.0.1:${http.port()}`, "HTTP/1.1"],
        ["--http2", "-x", `127.0.0.1:${http.port()}`, "HTTP/2.0"],
        ["--http1.1", "--socks5-hostname", `127.0.0.1:${socks.port()}`, "HTTP/1.1"],
        ["--http2", "--socks5-hostname", `127.0.0.1:${socks.port()}`, "HTTP/2.0"],
      ];
      for (const [version, flag, proxy, proto] of cases) {
        const r = await curl(
          version,
          "--cacert",
          ca.cert,
          flag,
          proxy,
          "--data-binary",
          `pw-${proto}`,
          `${url}/login`,
        );
        assert.equal(r.stdout, `secret /login pw-${proto}`, `${version} ${flag}: ${r.stderr}`);
      }
      const recs = (await hook.waitFor(4)) as Rec[];
      assert.deepEqual(recs.map((r) => r.http.proto), [
        "HTTP/1.1",
        "HTTP/2.0",
        "HTTP/1.1",
        "HTTP/2.0",
      ]);
      for (const rec of recs) {
        assert.equal(rec.proto, "tls");
        assert.equal(rec.host, `localhost:${server.port}`);
        assert.equal(rec.http.scheme, "https");
        assert.equal(rec.http.method, "POST");
        assert.equal(rec.http.uri, "/login");
        assert.equal(rec.http.statusCode, 200);
        assert.equal(atob(rec.http.request.body), `pw-${rec.http.proto}`);
        assert.equal(atob(rec.http.response.body), `secret /login pw-${rec.http.proto}`);
        assert.equal(rec.tls.serverName, "localhost");
        assert.equal(rec.tls.version, "tls1.3");
        assert.equal(rec.tls.proto, rec.http.proto === "HTTP/2.0" ? "h2" : "http/1.1");
        assert.match(rec.tls.cipherSuite, /^TLS_/);
        assert.match(rec.tls.clientHello, /^160301/);
      }
    } finally {
      await http.stop(0);
      await socks.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mitm: the client gets the protocol the upstream chose (http/1.1-only and h2-only origins)",
  ignore: needs("curl", "openssl"),
  async fn() {
    const origin = await testCert();
    const ca = await opensslCa({ kind: "ecdsa" });
    const h1 = await startAlpnOrigin(["http/1.1"], origin);
    const h2 = await startAlpnOrigin(["h2"], origin);
    const hook = await startWebhook();
    const snoop = await startSnoop(
      mitmService(hook.url, ca, `        mitm.upstreamCA: ${origin.certFile}`),
    );
    try {
      const proxy = `127.0.0.1:${snoop.port()}`;
      const a = await curl(
        "--http2",
        "--cacert",
        ca.cert,
        "-x",
        proxy,
        "-w",
        " %{http_version}",
        `https://localhost:${h1.port}/a`,
      );
      assert.equal(a.stdout, "1.1 /a  1.1", a.stderr);
      const b = await curl(
        "--http2",
        "--cacert",
        ca.cert,
        "-x",
        proxy,
        "-w",
        " %{http_version}",
        `https://localhost:${h2.port}/b`,
      );
      assert.equal(b.stdout, "2.0 /b  2", b.stderr);
      // A client that only speaks http/1.1 cannot reach an h2-only origin: it fails, and the
      // record says why (no protocol is forced on either side).
      const c = await curl(
        "--http1.1",
        "--cacert",
        ca.cert,
        "-x",
        proxy,
        `https://localhost:${h2.port}/c`,
      );
      assert.notEqual(c.code, 0);
      const recs = (await hook.waitFor(3)) as Rec[];
      assert.equal(recs[0].http.proto, "HTTP/1.1");
      assert.equal(recs[0].tls.proto, "http/1.1");
      assert.equal(recs[1].http.proto, "HTTP/2.0");
      assert.match(recs[2].err, /^upstream TLS: /);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await h1.close();
      await h2.close();
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "mitm: the seed's MITM YAML with the seed's openssl CA intercepts only .example.com, h2 forced by mitm.alpn",
  ignore: needs("curl", "openssl"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "snoop-seed-" });
    // An origin certificate for the names the test uses, trusted by snoop only.
    const names = "DNS:www.example.com,DNS:other.test";
    const o = await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=www.example.com",
      "-addext",
      `subjectAltName=${names}`,
      "-keyout",
      `${dir}/o.key`,
      "-out",
      `${dir}/o.crt`,
    ]);
    assert.equal(o.code, 0, o.stderr);
    const ca = await opensslCa();
    const server = await startOrigin(() => new Response("<h1>Example Domain</h1>"), {
      cert: await Deno.readTextFile(`${dir}/o.crt`),
      key: await Deno.readTextFile(`${dir}/o.key`),
    });
    const hook = await startWebhook();
    const yaml = (await Deno.readTextFile("examples/seed-mitm.yaml"))
      .replace("addr: :8080", "addr: 127.0.0.1:0")
      .replace("url: http://localhost:8000", `url: ${hook.url}`)
      .replace("mitm.certFile: ca.crt", `mitm.certFile: ${ca.cert}`)
      .replace(
        "mitm.keyFile: ca.key",
        `mitm.keyFile: ${ca.key}\n        mitm.upstreamCA: ${dir}/o.crt`,
      );
    const snoop = await startSnoop(yaml);
    try {
      const proxy = `localhost:${snoop.port()}`;
      const to = (host: string) => ["--connect-to", `${host}:443:127.0.0.1:${server.port}`];
      const a = await curl(
        "--cacert",
        ca.cert,
        "-x",
        proxy,
        ...to("www.example.com"),
        "https://www.example.com/",
      );
      assert.equal(a.stdout, "<h1>Example Domain</h1>", a.stderr);
      // Not on the whitelist: passed through untouched, so only the origin's own cert works.
      const b = await curl(
        "--cacert",
        `${dir}/o.crt`,
        "-x",
        proxy,
        ...to("other.test"),
        "https://other.test/",
      );
      assert.equal(b.stdout, "<h1>Example Domain</h1>", b.stderr);
      const recs = (await hook.waitFor(2)) as Rec[];
      const mitm = recs.find((r) => r.http?.method === "GET")!;
      assert.equal(mitm.proto, "tls");
      assert.equal(mitm.http.proto, "HTTP/2.0");
      assert.equal(mitm.http.scheme, "https");
      assert.equal(mitm.http.host, "www.example.com");
      assert.equal(mitm.tls.serverName, "www.example.com");
      assert.equal(mitm.tls.proto, "h2");
      assert.equal(mitm.tls.serverHello, "", "as the seed's MITM record shows");
      const pass = recs.find((r) => r.http?.method === "CONNECT")!;
      assert.equal(pass.proto, "tls");
      assert.equal(pass.tls.serverName, "other.test");
      assert.notEqual(pass.tls.serverHello, "");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mitm: mitm.alpn http/1.1 makes an h2 client speak HTTP/1.1 on both sides",
  ignore: needs("curl", "openssl"),
  async fn() {
    const origin = await testCert();
    const ca = await opensslCa({ kind: "ecdsa" });
    const server = await startOrigin(() => new Response("ok"), origin);
    const hook = await startWebhook();
    const snoop = await startSnoop(
      mitmService(
        hook.url,
        ca,
        `        mitm.upstreamCA: ${origin.certFile}\n        mitm.alpn: http/1.1`,
      ),
    );
    try {
      const r = await curl(
        "--http2",
        "--cacert",
        ca.cert,
        "-x",
        `127.0.0.1:${snoop.port()}`,
        "-w",
        " %{http_version}",
        `https://localhost:${server.port}/`,
      );
      assert.equal(r.stdout, "ok 1.1", r.stderr);
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.http.proto, "HTTP/1.1");
      assert.equal(rec.tls.proto, "http/1.1");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "mitm: an untrusted or wrong-name upstream gives the client no trusted forgery and the record says why",
  ignore: needs("curl", "openssl"),
  async fn() {
    const origin = await testCert();
    const ca = await opensslCa();
    const server = await startOrigin(() => new Response("should not be seen"), origin);
    const hook = await startWebhook();
    const untrusted = await startSnoop(mitmService(hook.url, ca));
    const trusted = await startSnoop(
      mitmService(hook.url, ca, `        mitm.upstreamCA: ${origin.certFile}`),
    );
    try {
      const a = await curl(
        "--cacert",
        ca.cert,
        "-x",
        `127.0.0.1:${untrusted.port()}`,
        `https://localhost:${server.port}/`,
      );
      assert.notEqual(a.code, 0);
      assert.equal(a.stdout, "");
      // The origin's certificate is for localhost, not wrong.test.
      const b = await curl(
        "--cacert",
        ca.cert,
        "-x",
        `127.0.0.1:${trusted.port()}`,
        "--connect-to",
        `wrong.test:443:127.0.0.1:${server.port}`,
        "https://wrong.test/",
      );
      assert.notEqual(b.code, 0);
      assert.equal(b.stdout, "");
      assert.equal(server.requests.length, 0);
      const recs = (await hook.waitFor(2)) as Rec[];
      assert.match(recs[0].err, /^upstream TLS: .*(certificate|issuer)/i);
      assert.equal(recs[0].tls.serverName, "localhost");
      assert.match(recs[1].err, /^upstream TLS: .*(wrong\.test|altnames|hostname)/i);
    } finally {
      await untrusted.stop(0);
      await trusted.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "mitm: a client that rejects the certificate is recorded; mitm.passthroughRejected passes that host through afterwards",
  ignore: needs("curl", "openssl"),
  async fn() {
    const origin = await testCert();
    const ca = await opensslCa();
    const server = await startOrigin(() => new Response("real origin"), origin);
    const hook = await startWebhook();
    const snoop = await startSnoop(
      mitmService(
        hook.url,
        ca,
        `        mitm.upstreamCA: ${origin.certFile}\n        mitm.passthroughRejected: true`,
      ),
    );
    try {
      const proxy = `127.0.0.1:${snoop.port()}`;
      // This client trusts only the real origin's certificate, not snoop's CA.
      const first = await curl(
        "--cacert",
        origin.certFile,
        "-x",
        proxy,
        `https://localhost:${server.port}/`,
      );
      assert.notEqual(first.code, 0);
      const second = await curl(
        "--cacert",
        origin.certFile,
        "-x",
        proxy,
        `https://localhost:${server.port}/`,
      );
      assert.equal(second.stdout, "real origin", second.stderr);
      const recs = (await hook.waitFor(2)) as Rec[];
      assert.match(recs[0].err, /^client rejected the certificate for localhost/);
      assert.equal(recs[1].http.method, "CONNECT", "passed through: the tunnel's record");
      assert.equal(recs[1].err, undefined);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mitm: 50 concurrent first requests to 50 new hostnames each get a valid certificate",
  ignore: needs("curl", "openssl"),
  async fn() {
    const ca = await opensslCa({ kind: "ecdsa" });
    const origin = await testCert();
    const server = await startOrigin((req) => new Response(new URL(req.url).hostname), origin);
    const hook = await startWebhook();
    // The origin's certificate does not cover host-N.test: upstream checks are off here,
    // the test is about the certificates snoop makes.
    const snoop = await startSnoop(
      mitmService(hook.url, ca, "        mitm.insecure: true", "socks5"),
    );
    try {
      const args = [
        "--parallel",
        "--parallel-max",
        "50",
        "--cacert",
        ca.cert,
        "--socks5",
        `127.0.0.1:${snoop.port()}`,
        "-w",
        "%{http_code}\\n",
      ];
      for (let i = 0; i < 50; i++) {
        args.push(
          "--resolve",
          `host-${i}.test:${server.port}:127.0.0.1`,
          "-o",
          "/dev/null",
          `https://host-${i}.test:${server.port}/`,
        );
      }
      const r = await run("curl", ["-s", "--max-time", "60", ...args], { timeoutMs: 90_000 });
      assert.equal(r.stdout.trim().split("\n").filter((c) => c === "200").length, 50, r.stderr);
      const recs = (await hook.waitFor(50, 30_000)) as Rec[];
      assert.deepEqual(new Set(recs.map((x) => x.tls.serverName)).size, 50);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mitm: WebSocket over TLS (wss) frames are recorded after interception",
  ignore: needs("openssl"),
  async fn() {
    const origin = await testCert();
    const ca = await opensslCa({ kind: "ecdsa" });
    const server = await startOrigin((req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (e) => socket.send(`echo:${e.data}`);
      return response;
    }, origin);
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: wss
    addr: 127.0.0.1:0
    recorders: [{ name: hook, metadata: { http.body: true } }]
    handler:
      type: tcp
      metadata: { sniffing: true, sniffing.websocket: true, mitm.certFile: ${ca.cert}, mitm.keyFile: ${ca.key}, mitm.upstreamCA: ${origin.certFile} }
    forwarder: { nodes: [{ name: o, addr: "127.0.0.1:${server.port}" }] }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port: snoop.port(),
      caCerts: [await Deno.readTextFile(ca.cert)],
    });
    try {
      // A WebSocket handshake and one masked text frame, by hand over Deno's TLS client.
      await conn.write(new TextEncoder().encode(
        "GET /live HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      ));
      const buf = new Uint8Array(4096);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        head += new TextDecoder().decode(buf.subarray(0, (await conn.read(buf))!));
      }
      assert.match(head, /^HTTP\/1\.1 101/);
      const mask = [1, 2, 3, 4];
      const payload = [..."hi"].map((c, i) => c.charCodeAt(0) ^ mask[i % 4]);
      await conn.write(Uint8Array.from([0x81, 0x82, ...mask, ...payload]));
      const n = (await conn.read(buf))!;
      assert.equal(new TextDecoder().decode(buf.subarray(2, n)), "echo:hi");
      await conn.write(Uint8Array.from([0x88, 0x80, 0, 0, 0, 0]));
      await conn.read(buf).catch(() => null);
    } finally {
      conn.close();
    }
    try {
      let recs: Rec[] = [];
      for (
        let i = 0;
        i < 100 && !recs.some((r) => !r.websocket && r.http?.statusCode === 101);
        i++
      ) {
        recs = hook.records as Rec[];
        await new Promise((r) => setTimeout(r, 50));
      }
      const frames = recs.filter((r) => r.websocket?.opcode === 1);
      assert.deepEqual(frames.map((f) => f.websocket.from).sort(), ["client", "server"]);
      assert.equal(
        atob(frames.find((f) => f.websocket.from === "server")!.websocket.payload),
        "echo:hi",
      );
      assert.ok(frames.every((f) => f.proto === "tls" && f.tls.serverName === "localhost"));
      const upgrade = recs.find((r) => !r.websocket && r.http?.statusCode === 101)!;
      assert.equal(upgrade.http.scheme, "https");
      assert.equal(upgrade.http.uri, "/live");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "mitm: clients without ALPN are intercepted as HTTP/1.1; auto and sni handlers intercept; GOST's alias keys work",
  ignore: needs("curl", "openssl"),
  async fn() {
    const origin = await testCert();
    const ca = await opensslCa();
    const server = await startOrigin(
      (req) => new Response(`seen ${new URL(req.url).pathname}`),
      origin,
    );
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: auto
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: auto
      metadata: { sniffing: true, mitm.caCertFile: ${ca.cert}, mitm.caKeyFile: ${ca.key}, mitm.upstreamCA: ${origin.certFile} }
  - name: sni
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: sni
      metadata: { targetPort: ${server.port}, mitm.certFile: ${ca.cert}, mitm.keyFile: ${ca.key}, mitm.upstreamCA: ${origin.certFile} }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const noAlpn = await curl(
        "--no-alpn",
        "--cacert",
        ca.cert,
        "-x",
        `127.0.0.1:${snoop.port("auto")}`,
        `https://localhost:${server.port}/no-alpn`,
      );
      assert.equal(noAlpn.stdout, "seen /no-alpn", noAlpn.stderr);
      const socks = await curl(
        "--cacert",
        ca.cert,
        "--socks5-hostname",
        `127.0.0.1:${snoop.port("auto")}`,
        `https://localhost:${server.port}/auto-socks`,
      );
      assert.equal(socks.stdout, "seen /auto-socks", socks.stderr);
      const sni = await curl(
        "--cacert",
        ca.cert,
        "--connect-to",
        `localhost:443:127.0.0.1:${snoop.port("sni")}`,
        "https://localhost/via-sni",
      );
      assert.equal(sni.stdout, "seen /via-sni", sni.stderr);
      const recs = (await hook.waitFor(3)) as Rec[];
      const byUri = (u: string) => recs.find((r) => r.http?.uri === u)!;
      assert.equal(byUri("/no-alpn").http.proto, "HTTP/1.1");
      assert.equal(byUri("/no-alpn").tls.proto, "");
      assert.equal(byUri("/auto-socks").proto, "tls");
      assert.equal(byUri("/via-sni").service, "sni");
      assert.equal(byUri("/via-sni").http.scheme, "https");
    } finally {
      await snoop.stop(0);
      await hook.close();
      await server.close();
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "mitm: an upstream certificate signed by an mitm.upstreamCA is trusted; one signed by another CA is not",
  ignore: needs("curl", "openssl"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "snoop-upstream-ca-" });
    const ssl = async (...args: string[]) => {
      const r = await run("openssl", args);
      assert.equal(r.code, 0, r.stderr);
    };
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for (const name of ["private", "other"]) {
      await ssl(
        "req",
        "-x509",
        ...ec,
        "-days",
        "2",
        "-subj",
        `/CN=${name} CA`,
        "-keyout",
        `${dir}/${name}.key`,
        "-out",
        `${dir}/${name}.crt`,
      );
    }
    await Deno.writeTextFile(
      `${dir}/ext.cnf`,
      "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    );
    const origins = [];
    for (const signer of ["private", "other"]) {
      await ssl(
        "req",
        ...ec,
        "-subj",
        "/CN=localhost",
        "-keyout",
        `${dir}/${signer}-leaf.key`,
        "-out",
        `${dir}/leaf.csr`,
      );
      await ssl(
        "x509",
        "-req",
        "-in",
        `${dir}/leaf.csr`,
        "-CA",
        `${dir}/${signer}.crt`,
        "-CAkey",
        `${dir}/${signer}.key`,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        `${dir}/ext.cnf`,
        "-out",
        `${dir}/${signer}-leaf.crt`,
      );
      origins.push(
        await startOrigin(() => new Response(`signed by ${signer}`), {
          cert: await Deno.readTextFile(`${dir}/${signer}-leaf.crt`),
          key: await Deno.readTextFile(`${dir}/${signer}-leaf.key`),
        }),
      );
    }
    const ca = await opensslCa({ kind: "ecdsa" });
    const hook = await startWebhook();
    const snoop = await startSnoop(
      mitmService(hook.url, ca, `        mitm.upstreamCA: ${dir}/private.crt`),
    );
    try {
      const via = (port: number) =>
        curl(
          "-s",
          "--cacert",
          ca.cert,
          "-x",
          `127.0.0.1:${snoop.port()}`,
          `https://localhost:${port}/`,
        );
      assert.equal((await via(origins[0].port)).stdout, "signed by private");
      const refused = await via(origins[1].port);
      assert.notEqual(refused.code, 0);
      assert.equal(origins[1].requests.length, 0);
      const recs = (await hook.waitFor(2)) as Rec[];
      assert.ok(
        recs.some((r) => /^upstream TLS: certificate not trusted/.test(r.err ?? "")),
        recs.map((r) => r.err).join(" | "),
      );
    } finally {
      await snoop.stop(0);
      await hook.close();
      for (const o of origins) await o.close();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});
