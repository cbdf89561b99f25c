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
import { startDnsServer } from "../../scripts/lib/dns_server.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

Deno.test({
  name: "dns handler: dig over UDP and +tcp through snoop, one record per query",
  ignore: needs("dig"),
  async fn() {
    const upstream = await startDnsServer({ "app.test": "127.0.0.42" });
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: dns-udp
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: dns, metadata: { dns: ["udp://127.0.0.1:${upstream.port}"] } }
    listener: { type: udp }
  - name: dns-tcp
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: dns, metadata: { dns: ["tcp://127.0.0.1:${upstream.port}"] } }
    listener: { type: tcp }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const udp = await run("dig", [
        "@127.0.0.1",
        "-p",
        String(snoop.port("dns-udp")),
        "app.test",
        "A",
        "+tries=1",
        "+time=3",
        "+short",
      ]);
      assert.equal(udp.stdout.trim(), "127.0.0.42");
      const tcp = await run("dig", [
        "@127.0.0.1",
        "-p",
        String(snoop.port("dns-tcp")),
        "app.test",
        "A",
        "+tcp",
        "+tries=1",
        "+time=3",
        "+short",
      ]);
      assert.equal(tcp.stdout.trim(), "127.0.0.42");
      const nx = await run("dig", [
        "@127.0.0.1",
        "-p",
        String(snoop.port("dns-udp")),
        "missing.test",
        "A",
        "+tries=1",
        "+time=3",
      ]);
      assert.match(nx.stdout, /status: NXDOMAIN/);
      const recs = (await hook.waitFor(3)) as Rec[];
      const u = recs.find((r) => r.service === "dns-udp" && r.dns.name === "app.test.")!;
      assert.equal(u.proto, "dns");
      assert.equal(u.network, "udp");
      assert.equal(u.host, `udp://127.0.0.1:${upstream.port}`);
      assert.equal(u.dns.class, "IN");
      assert.equal(u.dns.type, "A");
      assert.match(u.dns.question, /;; QUESTION SECTION:\n;app\.test\.\tIN\t A/);
      assert.match(u.dns.answer, /;; ANSWER SECTION:\napp\.test\.\t60\tIN\tA\t127\.0\.0\.42/);
      assert.match(u.dns.answer, /status: NOERROR/);
      const t = recs.find((r) => r.service === "dns-tcp")!;
      assert.equal(t.network, "tcp");
      assert.equal(t.host, `tcp://127.0.0.1:${upstream.port}`);
      assert.match(
        recs.find((r) => r.dns.name === "missing.test.")!.dns.answer,
        /status: NXDOMAIN/,
      );
    } finally {
      await snoop.stop(0);
      await hook.close();
      await upstream.close();
    }
  },
});

Deno.test({
  name: "dns handler: an upstream that never answers gives SERVFAIL and a record with err",
  ignore: needs("dig"),
  async fn() {
    // A UDP socket that reads and never answers.
    const { default: dgram } = await import("node:dgram");
    const silent = dgram.createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: d
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: dns, metadata: { dns: "udp://127.0.0.1:${silent.address().port}", timeout: 300ms } }
    listener: { type: udp }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const r = await run("dig", [
        "@127.0.0.1",
        "-p",
        String(snoop.port()),
        "slow.test",
        "+tries=1",
        "+time=5",
      ]);
      assert.match(r.stdout, /status: SERVFAIL/);
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.match(rec.err, /timeout/);
    } finally {
      await snoop.stop(0);
      await hook.close();
      silent.close();
    }
  },
});

Deno.test({
  name: "sni handler routes TLS by server name and HTTP by Host, and records both",
  ignore: needs("curl", "openssl"),
  async fn() {
    const cert = await testCert();
    const tlsOrigin = await startOrigin(() => new Response("via sni"), cert);
    const httpOrigin = await startOrigin(() => new Response("via host"));
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: sni
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: sni, metadata: { targetPort: ${tlsOrigin.port} } }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const p = snoop.port();
      const tls = await curl(
        "--cacert",
        cert.certFile,
        "--connect-to",
        `localhost:443:127.0.0.1:${p}`,
        "https://localhost/",
      );
      assert.equal(tls.stdout, "via sni", tls.stderr);
      const http = await curl(
        "--connect-to",
        `127.0.0.1:${httpOrigin.port}:127.0.0.1:${p}`,
        `${httpOrigin.url}/plain`,
      );
      assert.equal(http.stdout, "via host");
      const recs = (await hook.waitFor(2)) as Rec[];
      const t = recs.find((r) => r.proto === "tls")!;
      assert.equal(t.host, `localhost:${tlsOrigin.port}`);
      assert.equal(t.tls.serverName, "localhost");
      const h = recs.find((r) => r.proto === "http")!;
      assert.equal(h.http.uri, "/plain");
      assert.equal(h.host, `127.0.0.1:${httpOrigin.port}`);
    } finally {
      await snoop.stop(0);
      await hook.close();
      await tlsOrigin.close();
      await httpOrigin.close();
    }
  },
});
