/**
 * Upstream proxies the GOST way (`chains:` with `hops`, `handler.chain`, `-F`), through real
 * upstreams: Debian's squid (HTTP CONNECT with Basic authentication) and a second snoop as
 * a SOCKS5 proxy with a password. The records say which hops carried each connection in
 * `route`, and squid's access log shows it really carried them.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/cli/cli.ts";
import { App } from "../../src/app/app.ts";
import { Logger } from "../../src/util/log.ts";
import {
  curl,
  needs,
  run,
  startOrigin,
  startSnoop,
  startWebhook,
  testCert,
  until,
} from "../helpers/harness.ts";
import { type Squid, startSquid } from "../helpers/squid.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

async function makeCa(): Promise<{ dir: string; cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "snoop-chain-ca-" });
  const cert = `${dir}/ca.crt`, key = `${dir}/ca.key`;
  const r = await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=snoop chain test CA",
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return { dir, cert, key };
}

/** A snoop http proxy whose handler dials through `chain` (YAML of one `chains:` entry). */
function chained(hook: string, chain: string, extra = "", bypasses = "") {
  return `
services:
  - name: front
    addr: 127.0.0.1:0
    recorders: [{ name: hook, metadata: { http.body: true } }]
    handler:
      type: http
      chain: chain-0
      metadata:
        sniffing: true
${extra}
chains:
${chain}
recorders: [{ name: hook, http: { url: "${hook}" } }]
${bypasses}
`;
}

const squidHop = (s: Squid, password = s.password, bypass = "") => `
  - name: chain-0
    hops:
      - name: hop-0
${bypass}
        nodes:
          - name: squid
            addr: 127.0.0.1:${s.port}
            connector: { type: http, auth: { username: ${s.user}, password: "${password}" } }
            dialer: { type: tcp }
`;

const ready = needs("squid", "curl", "openssl");

Deno.test({
  name: "chain: CONNECT, forwarded requests and MITM go through squid; route names the hop",
  ignore: ready,
  async fn() {
    const squid = await startSquid();
    const origin = await startOrigin();
    const cert = await testCert();
    const tlsOrigin = await startOrigin(
      (req) => new Response(`tls ${new URL(req.url).pathname}`),
      cert,
    );
    const ca = await makeCa();
    const hook = await startWebhook();
    const snoop = await startSnoop(chained(
      hook.url,
      squidHop(squid),
      `        mitm.certFile: ${ca.cert}\n        mitm.keyFile: ${ca.key}\n` +
        `        mitm.upstreamCA: ${cert.certFile}`,
    ));
    try {
      const proxy = `http://127.0.0.1:${snoop.port()}`;
      const hop = `squid@127.0.0.1:${squid.port}`;
      // An absolute-URI request: snoop opens a tunnel through squid to the origin.
      const plain = await curl("-x", proxy, `${origin.url}/forwarded`);
      assert.equal(plain.stdout, "hello GET /forwarded ");
      // A CONNECT tunnel with plain HTTP inside, sniffed.
      const tunnelled = await curl("-p", "-x", proxy, `${origin.url}/tunnelled`);
      assert.equal(tunnelled.stdout, "hello GET /tunnelled ");
      // TLS intercepted by snoop, TLS to the origin inside squid's tunnel.
      const mitm = await curl(
        "--cacert",
        ca.cert,
        "-x",
        proxy,
        `https://localhost:${tlsOrigin.port}/secret`,
      );
      assert.equal(mitm.stdout, "tls /secret", mitm.stderr);
      const records: Rec[] = await hook.waitFor(3);
      const byUri = (uri: string) => records.find((r) => String(r.http?.uri).endsWith(uri));
      assert.equal(byUri("/forwarded")?.route, `${hop} > 127.0.0.1:${origin.port}`);
      assert.equal(byUri("/tunnelled")?.route, `${hop} > 127.0.0.1:${origin.port}`);
      const secret = byUri("/secret")!;
      assert.equal(secret.route, `${hop} > localhost:${tlsOrigin.port}`);
      assert.equal(secret.tls?.serverName, "localhost");
      // dst is the first hop: the connection snoop opened goes to squid.
      assert.equal(secret.dst, `127.0.0.1:${squid.port}`);
      // squid carried all three, as the authenticated user, by name for the MITM one. It
      // logs a CONNECT when the tunnel ends: snoop's pooled upstream ends when snoop stops.
      await snoop.stop(0);
      let log: string[] = [];
      await until(async () => {
        log = (await squid.accessLog()).filter((l) => l.includes("CONNECT"));
        return log.length >= 3;
      }, "squid's log of three tunnels");
      assert.ok(log.some((l) => l.includes(`CONNECT 127.0.0.1:${origin.port} ${squid.user}`)));
      assert.ok(log.some((l) => l.includes(`CONNECT localhost:${tlsOrigin.port} ${squid.user}`)));
    } finally {
      await snoop.stop(0);
      await hook.close();
      await tlsOrigin.close();
      await origin.close();
      await squid.stop();
      await Deno.remove(ca.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "chain: two hops, squid then a snoop SOCKS5 proxy with a password",
  ignore: ready,
  async fn() {
    const squid = await startSquid();
    const origin = await startOrigin();
    const hook = await startWebhook();
    const socksHook = await startWebhook();
    const socks = await startSnoop(`
services:
  - name: upstream
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: socks5, auth: { username: sock, password: "p@ss:word" } }
recorders: [{ name: hook, http: { url: "${socksHook.url}" } }]
`);
    const chain = squidHop(squid) + `      - name: hop-1
        nodes:
          - name: socks
            addr: 127.0.0.1:${socks.port()}
            connector: { type: socks5, auth: { username: sock, password: "p@ss:word" } }
`;
    const snoop = await startSnoop(chained(hook.url, chain));
    try {
      const r = await curl("-p", "-x", `http://127.0.0.1:${snoop.port()}`, `${origin.url}/two`);
      assert.equal(r.stdout, "hello GET /two ");
      const [rec] = await hook.waitFor(1) as Rec[];
      assert.equal(
        rec.route,
        `squid@127.0.0.1:${squid.port} > socks@127.0.0.1:${socks.port()} > 127.0.0.1:${origin.port}`,
      );
      // The SOCKS5 upstream saw the real target, from squid, authenticated.
      const [up] = await socksHook.waitFor(1) as Rec[];
      assert.equal(up.host, `127.0.0.1:${origin.port}`);
      assert.equal(up.clientID, "sock");
      assert.ok(
        (await squid.accessLog()).some((l) => l.includes(`CONNECT 127.0.0.1:${socks.port()}`)),
      );
    } finally {
      await snoop.stop(0);
      await socks.stop(0);
      await hook.close();
      await socksHook.close();
      await origin.close();
      await squid.stop();
    }
  },
});

Deno.test({
  name: "chain: -F on the command line, a hop bypass, a refused password, egress still checked",
  ignore: ready,
  async fn() {
    const squid = await startSquid();
    const origin = await startOrigin();
    const auth = `${encodeURIComponent(squid.user)}:${encodeURIComponent(squid.password)}`;
    const start = async (url: string, forward: string[]) => {
      const config = await loadConfig([], [url], forward);
      return await App.start(config, new Logger("test"));
    };
    // -F with the hop's bypass: localhost goes around squid, 127.0.0.1 through it.
    const cli = await start("http://127.0.0.1:0?sniffing=true", [
      `http://${auth}@127.0.0.1:${squid.port}?bypass=localhost`,
    ]);
    const wrong = await start("http://127.0.0.1:0", [
      `http://${squid.user}:nope@127.0.0.1:${squid.port}`,
    ]);
    const guarded = await start("http://127.0.0.1:0?egress.deny=loopback", [
      `http://${auth}@127.0.0.1:${squid.port}`,
    ]);
    for (const app of [cli, wrong, guarded]) {
      assert.equal(app.services[0].config.handler.chain?.name, "chain-0");
    }
    try {
      const port = (app: App) => app.services[0].addr.port;
      const via = await curl("-x", `http://127.0.0.1:${port(cli)}`, `${origin.url}/via`);
      assert.equal(via.stdout, "hello GET /via ");
      const around = await curl(
        "-x",
        `http://127.0.0.1:${port(cli)}`,
        `http://localhost:${origin.port}/around`,
      );
      assert.equal(around.stdout, "hello GET /around ");
      await cli.stop(0); // squid logs a tunnel when it ends
      let log: string[] = [];
      await until(async () => {
        log = await squid.accessLog();
        return log.some((l) => l.includes(`CONNECT 127.0.0.1:${origin.port}`));
      }, "squid's log of the tunnel");
      assert.ok(!log.some((l) => l.includes("localhost")), "the bypassed host went through squid");

      // squid answers 407 to a wrong password: the client gets 502 saying so.
      const refused = await curl("-i", "-x", `http://127.0.0.1:${port(wrong)}`, `${origin.url}/x`);
      assert.match(refused.stdout, /^HTTP\/1\.1 502/);
      assert.match(refused.stdout, /hop-0 node-0@127\.0\.0\.1:\d+ \(http\).*407/);

      // egress.deny=loopback: 127.0.0.1 and localhost are refused before squid is asked.
      const before = (await squid.accessLog()).length;
      for (const url of [`${origin.url}/denied`, `http://localhost:${origin.port}/denied`]) {
        const denied = await curl("-i", "-x", `http://127.0.0.1:${port(guarded)}`, url);
        assert.match(denied.stdout, /^HTTP\/1\.1 403/, url);
      }
      log = await squid.accessLog();
      assert.equal(log.length, before, `squid was asked: ${log.slice(before).join("\n")}`);
      assert.equal(origin.requests.filter((r) => r.path === "/denied").length, 0);
    } finally {
      for (const app of [cli, wrong, guarded]) await app.stop(0);
      await origin.close();
      await squid.stop();
    }
  },
});

/**
 * An upstream that answers the tunnel request and sends the target's first bytes in the
 * same write (a server that speaks first, behind a proxy that coalesces): snoop must leave
 * those bytes for the relay, not swallow them with the handshake's answer.
 */
function coalescingUpstream(kind: "http" | "socks5") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(4096);
        const n = await conn.read(buf) ?? 0;
        let reply: Uint8Array;
        if (kind === "http") {
          requests.push(new TextDecoder().decode(buf.subarray(0, n)).split("\r\n")[0]);
          reply = new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n");
        } else {
          await conn.write(Uint8Array.of(5, 0)); // no authentication
          const m = await conn.read(buf) ?? 0;
          const name = new TextDecoder().decode(buf.subarray(5, 5 + buf[4]));
          requests.push(`${name}:${(buf[m - 2] << 8) | buf[m - 1]}`);
          reply = Uint8Array.of(5, 0, 0, 1, 127, 0, 0, 1, 0, 22);
        }
        const banner = new TextEncoder().encode("SSH-2.0-banner\r\n");
        const both = new Uint8Array(reply.length + banner.length);
        both.set(reply);
        both.set(banner, reply.length);
        await conn.write(both);
        // Then echo, so the client can tell the tunnel goes on working.
        for (;;) {
          const k = await conn.read(buf).catch(() => null);
          if (k === null) break;
          await conn.write(buf.subarray(0, k));
        }
        conn.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests,
    async close() {
      listener.close();
      await serving;
    },
  };
}

for (const kind of ["http", "socks5"] as const) {
  Deno.test(`chain: bytes the target sends with the ${kind} upstream's answer reach the client`, async () => {
    const upstream = coalescingUpstream(kind);
    const app = await App.start(
      await loadConfig(
        [],
        ["tcp://127.0.0.1:0/banner.example:22"],
        [`${kind}://127.0.0.1:${upstream.port}`],
      ),
      new Logger("test"),
    );
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: app.services[0].addr.port });
    try {
      const buf = new Uint8Array(64);
      let got = "";
      while (!got.includes("\r\n")) {
        const n = await conn.read(buf);
        if (n === null) break;
        got += new TextDecoder().decode(buf.subarray(0, n));
      }
      assert.equal(got, "SSH-2.0-banner\r\n");
      await conn.write(new TextEncoder().encode("ping"));
      const n = await conn.read(buf);
      assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "ping");
      assert.deepEqual(
        upstream.requests,
        [kind === "http" ? "CONNECT banner.example:22 HTTP/1.1" : "banner.example:22"],
      );
    } finally {
      conn.close();
      await app.stop(0);
      await upstream.close();
    }
  });
}

Deno.test("chain: a SOCKS5 UDP ASSOCIATE is refused rather than sent around the chain", async () => {
  const app = await App.start(
    await loadConfig([], ["socks5://127.0.0.1:0"], ["http://127.0.0.1:9"]),
    new Logger("test"),
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: app.services[0].addr.port });
  try {
    await conn.write(Uint8Array.of(5, 1, 0));
    const buf = new Uint8Array(64);
    assert.deepEqual([...buf.subarray(0, (await conn.read(buf)) ?? 0)], [5, 0]);
    await conn.write(Uint8Array.of(5, 3, 0, 1, 0, 0, 0, 0, 0, 0));
    const n = (await conn.read(buf)) ?? 0;
    assert.ok(n >= 2);
    assert.equal(buf[1], 7, "command not supported");
  } finally {
    conn.close();
    await app.stop(0);
  }
});

Deno.test("chain: -F alone puts the main job behind the proxy; -O shows it, password masked", async () => {
  const home = await Deno.makeTempDir({ prefix: "snoop-chain-home-" });
  try {
    const r = await run(Deno.execPath(), [
      "run",
      "--allow-all",
      new URL("../../mod.ts", import.meta.url).pathname,
      "-F",
      "http://corp:hunter2@10.0.0.1:3128",
      "-O",
      "json",
    ], { env: { SNOOP_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(r.stdout);
    assert.equal(config.services[0].handler.chain, "chain-0");
    const node = config.chains[0].hops[0].nodes[0];
    assert.equal(node.addr, "10.0.0.1:3128");
    assert.deepEqual(node.connector, {
      type: "http",
      auth: { username: "corp", password: "******" },
    });
    assert.ok(!r.stdout.includes("hunter2"));
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
