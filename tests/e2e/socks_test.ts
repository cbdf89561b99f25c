import assert from "node:assert/strict";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { curl, needs, readAll, startOrigin, startSnoop, startWebhook } from "../helpers/harness.ts";

Deno.test({
  name: "socks5 CONNECT with curl --socks5 and --socks5-hostname",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin();
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: s5
    addr: 127.0.0.1:0
    recorders: [{ name: hook, record: recorder.service.handler }]
    handler: { type: socks5 }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const p = snoop.port();
      const a = await curl("--socks5", `127.0.0.1:${p}`, `${origin.url}/ip`);
      assert.equal(a.stdout, "hello GET /ip ");
      const b = await curl(
        "--socks5-hostname",
        `127.0.0.1:${p}`,
        `http://localhost:${origin.port}/name`,
      );
      assert.equal(b.stdout, "hello GET /name ");
      const recs = await hook.waitFor(2);
      const hosts = recs.map((r) => r.host).sort();
      assert.deepEqual(hosts, [`127.0.0.1:${origin.port}`, `localhost:${origin.port}`].sort());
      assert.ok(recs.every((r) => (r.outputBytes as number) > 100 && !r.err));
    } finally {
      await snoop.stop(0);
      await hook.close();
      await origin.close();
    }
  },
});

Deno.test({
  name: "socks5 username/password: right credentials pass, wrong ones are refused",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin();
    const snoop = await startSnoop(`
services:
  - name: s5
    addr: 127.0.0.1:0
    handler: { type: socks5, auth: { username: alice, password: s3cret } }
`);
    try {
      const p = snoop.port();
      const ok = await curl("--socks5", `alice:s3cret@127.0.0.1:${p}`, `${origin.url}/`);
      assert.equal(ok.stdout, "hello GET / ");
      const bad = await curl("--socks5", `alice:wrong@127.0.0.1:${p}`, `${origin.url}/`);
      assert.notEqual(bad.code, 0);
      assert.equal(bad.stdout, "");
      const none = await curl("--socks5", `127.0.0.1:${p}`, `${origin.url}/`);
      assert.notEqual(none.code, 0);
      assert.equal(origin.requests.length, 1);
    } finally {
      await snoop.stop(0);
      await origin.close();
    }
  },
});

Deno.test({
  name: "socks5 replies connection refused (0x05) for a dead target and 0x07 for BIND",
  async fn() {
    const snoop = await startSnoop(
      `services: [{ name: s5, addr: "127.0.0.1:0", handler: { type: socks5 } }]`,
    );
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dead = (l.addr as Deno.NetAddr).port;
    l.close();
    try {
      for (const [cmd, expected] of [[1, 0x05], [2, 0x07]]) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
        await conn.write(
          Uint8Array.of(5, 1, 0, 5, cmd, 0, 1, 127, 0, 0, 1, dead >> 8, dead & 0xff),
        );
        const reply = await readAll(conn);
        conn.close();
        // Method selection (05 00), then the reply: VER REP RSV ATYP ...
        assert.deepEqual([...reply.subarray(0, 2)], [5, 0]);
        assert.equal(reply[2], 5);
        assert.equal(reply[3], expected);
      }
    } finally {
      await snoop.stop(0);
    }
  },
});

Deno.test({
  name: "socks5 answers a bad greeting with 0xFF and closes",
  async fn() {
    const snoop = await startSnoop(
      `services: [{ name: s5, addr: "127.0.0.1:0", handler: { type: socks5 } }]`,
    );
    try {
      for (
        const greeting of [Uint8Array.of(5, 0), Uint8Array.of(5, 1, 0x80), Uint8Array.of(9, 1, 0)]
      ) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
        await conn.write(greeting);
        const reply = await readAll(conn);
        conn.close();
        assert.deepEqual([...reply], [5, 0xff], `greeting ${greeting}`);
      }
    } finally {
      await snoop.stop(0);
    }
  },
});

Deno.test({
  name: "socks5 UDP ASSOCIATE relays datagrams both ways",
  async fn() {
    const echo = dgram.createSocket("udp4");
    await new Promise<void>((r) => echo.bind(0, "127.0.0.1", () => r()));
    echo.on(
      "message",
      (msg, from) => echo.send(Buffer.concat([Buffer.from("echo:"), msg]), from.port, from.address),
    );
    const echoPort = echo.address().port;
    const snoop = await startSnoop(
      `services: [{ name: s5, addr: "127.0.0.1:0", handler: { type: socks5, metadata: { udp: true } } }]`,
    );
    const control = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
    const client = dgram.createSocket("udp4");
    try {
      await control.write(Uint8Array.of(5, 1, 0));
      const buf = new Uint8Array(64);
      assert.deepEqual([...buf.subarray(0, (await control.read(buf))!)], [5, 0]);
      await control.write(Uint8Array.of(5, 3, 0, 1, 0, 0, 0, 0, 0, 0));
      const n = (await control.read(buf))!;
      assert.equal(buf[1], 0, "UDP ASSOCIATE succeeded");
      assert.equal(n, 10);
      const relayPort = (buf[8] << 8) | buf[9];
      await new Promise<void>((r) => client.bind(0, "127.0.0.1", () => r()));
      const got = new Promise<Buffer>((resolve) => client.once("message", (m) => resolve(m)));
      const header = Buffer.from([0, 0, 0, 1, 127, 0, 0, 1, echoPort >> 8, echoPort & 0xff]);
      client.send(Buffer.concat([header, Buffer.from("ping")]), relayPort, "127.0.0.1");
      const reply = await got;
      assert.deepEqual([...reply.subarray(0, 10)], [
        0,
        0,
        0,
        1,
        127,
        0,
        0,
        1,
        echoPort >> 8,
        echoPort & 0xff,
      ]);
      assert.equal(reply.subarray(10).toString(), "echo:ping");
    } finally {
      control.close();
      client.close();
      echo.close();
      await snoop.stop(0);
    }
  },
});

Deno.test({
  name: "socks4 and socks4a CONNECT through curl",
  ignore: needs("curl"),
  async fn() {
    const origin = await startOrigin();
    const snoop = await startSnoop(
      `services: [{ name: s4, addr: "127.0.0.1:0", handler: { type: socks4 } }]`,
    );
    try {
      const a = await curl("--socks4", `127.0.0.1:${snoop.port()}`, `${origin.url}/four`);
      assert.equal(a.stdout, "hello GET /four ");
      const b = await curl(
        "--socks4a",
        `127.0.0.1:${snoop.port()}`,
        `http://localhost:${origin.port}/foura`,
      );
      assert.equal(b.stdout, "hello GET /foura ");
    } finally {
      await snoop.stop(0);
      await origin.close();
    }
  },
});
