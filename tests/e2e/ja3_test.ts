import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  curl,
  needs,
  run,
  startOrigin,
  startSnoop,
  startWebhook,
  testCert,
} from "../helpers/harness.ts";
import { headlessChromium } from "../helpers/chromium.ts";
import { tsharkJa3 } from "../helpers/tshark_ja3.ts";
import { greasy } from "../helpers/greasy_hello.ts";
import { fingerprint } from "../../src/protocol/tls/fingerprint.ts";
import { RecordStore } from "../../src/store/record_store.ts";
import { opensslCa } from "../helpers/openssl_ca.ts";

const hex = (h: string) => Uint8Array.from(h.trim().match(/../g)!.map((b) => parseInt(b, 16)));

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

/** node:tls (Node's own, not Deno's) through an HTTP CONNECT proxy; prints "done". */
const NODE_CLIENT = `
const net = require("node:net"), tls = require("node:tls");
const [proxyPort, host, port] = process.argv.slice(1);
const sock = net.connect(Number(proxyPort), "127.0.0.1", () => {
  sock.write("CONNECT " + host + ":" + port + " HTTP/1.1\\r\\nHost: " + host + ":" + port + "\\r\\n\\r\\n");
  sock.once("data", () => {
    const t = tls.connect({ socket: sock, servername: "localhost", rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"] }, () => {
      t.end("GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n");
    });
    t.on("data", () => {});
    t.on("end", () => { console.log("done"); process.exit(0); });
    t.on("error", (e) => { console.error(e.message); process.exit(1); });
  });
});
setTimeout(() => process.exit(2), 10000);
`;

Deno.test({
  name:
    "JA3/JA4 of curl, openssl s_client, node:tls and Chromium hellos through snoop match tshark's JA3",
  ignore: needs("curl", "openssl", "node", "chromium", "tshark", "text2pcap"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-ja3-" });
    const cert = await testCert();
    const origin = await startOrigin(() => new Response("tls ok"), cert);
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: http, metadata: { sniffing: true } }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const proxy = `127.0.0.1:${snoop.port()}`;
      const target = `localhost:${origin.port}`;
      const c = await curl("--cacert", cert.certFile, "-x", proxy, `https://${target}/`);
      assert.equal(c.stdout, "tls ok", c.stderr);
      const o = await run("openssl", [
        "s_client",
        "-proxy",
        proxy,
        "-connect",
        target,
        "-servername",
        "localhost",
        "-CAfile",
        cert.certFile,
      ], { stdin: "" });
      assert.equal(o.code, 0, o.stderr);
      const n = await run("node", [
        "-e",
        NODE_CLIENT,
        String(snoop.port()),
        "localhost",
        String(origin.port),
      ], {
        timeoutMs: 15_000,
      });
      assert.match(n.stdout, /done/, n.stderr);
      const b = await headlessChromium(home, [
        `--proxy-server=http://${proxy}`,
        "--proxy-bypass-list=<-loopback>",
        "--ignore-certificate-errors",
        "--dump-dom",
        `https://${target}/`,
      ]);
      assert.match(b.stdout, /tls ok/, b.stderr.slice(-2000));

      const recs = ((await hook.waitFor(4, 15_000)) as Rec[]).filter((r) => r.tls?.clientHello);
      const seen = new Set<string>();
      for (const rec of recs) {
        const hello = Uint8Array.from(Buffer.from(rec.tls.clientHello, "hex"));
        const wireshark = await tsharkJa3(hello);
        assert.equal(rec.tls.ja3String, wireshark.ja3String);
        assert.equal(rec.tls.ja3, wireshark.ja3);
        assert.match(rec.tls.ja4, /^t1[23]d\d{4}(h2|h1|00)_[0-9a-f]{12}_[0-9a-f]{12}$/);
        seen.add(rec.tls.ja3);
      }
      // Four clients, four different hellos (Chromium may open more than one connection).
      assert.ok(seen.size >= 4, `${seen.size} distinct JA3s from ${recs.length} records`);
      // Chromium's hello is the one with the most extensions (16 or more, GREASE left out).
      assert.ok(
        recs.some((r) => r.tls.ja3String.split(",")[2].split("-").length >= 15),
        recs.map((r) => r.tls.ja3String).join("\n"),
      );

      // The store finds a record by its fingerprints.
      const store = new RecordStore(":memory:");
      try {
        store.insertBatch(recs.map((r) => JSON.stringify(r)));
        const one = recs[0].tls;
        const byJa3 = store.listSync({ expr: `~ja3 ${one.ja3}` }, 100).records;
        assert.ok(byJa3.length >= 1 && byJa3.every((r) => r.ja3 === one.ja3));
        const byJa4 = store.listSync({ expr: `~ja4 ${one.ja4}` }, 100).records;
        assert.ok(byJa4.length >= 1 && byJa4.every((r) => r.ja4 === one.ja4));
      } finally {
        store.close();
      }
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "JA3/JA4 under MITM: the intercepted client's hello, as tshark reads it",
  ignore: needs("curl", "openssl", "tshark", "text2pcap"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "snoop-ja3-mitm-" });
    const cert = await testCert();
    const origin = await startOrigin(() => new Response("mitm ok"), cert);
    const hook = await startWebhook();
    try {
      const { cert: ca, key } = await opensslCa({ dir, name: "JA3 test CA" });
      const snoop = await startSnoop(`
services:
  - name: mitm
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler:
      type: http
      metadata: { sniffing: true, mitm.certFile: ${ca}, mitm.keyFile: ${key}, mitm.upstreamCA: ${cert.certFile} }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
      try {
        const r = await curl(
          "--cacert",
          ca,
          "-x",
          `127.0.0.1:${snoop.port()}`,
          `https://localhost:${origin.port}/x`,
        );
        assert.equal(r.stdout, "mitm ok", r.stderr);
        const recs = (await hook.waitFor(1)) as Rec[];
        const rec = recs.find((x) => x.http?.uri === "/x" && x.tls?.clientHello);
        assert.ok(rec, JSON.stringify(recs).slice(0, 2000));
        const wireshark = await tsharkJa3(Uint8Array.from(Buffer.from(rec.tls.clientHello, "hex")));
        assert.equal(rec.tls.ja3, wireshark.ja3);
        assert.equal(rec.tls.ja3String, wireshark.ja3String);
        assert.match(rec.tls.ja4, /^t13d\d{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$/);
      } finally {
        await snoop.stop(0);
      }
    } finally {
      await hook.close();
      await origin.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fingerprint: tshark's JA3 of the seed's curl hello and the GREASEd one agree",
  ignore: needs("tshark", "text2pcap"),
  async fn() {
    const seed = hex(
      Deno.readTextFileSync(new URL("../fixtures/seed_client_hello.hex", import.meta.url)),
    );
    for (const hello of [seed, greasy]) {
      const ours = fingerprint(hello);
      const theirs = await tsharkJa3(hello);
      assert.equal(ours.ja3String, theirs.ja3String);
      assert.equal(ours.ja3, theirs.ja3);
    }
  },
});
