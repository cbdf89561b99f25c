import assert from "node:assert/strict";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import dnsPacket from "dns-packet";
import { needs, readAll, run, startSnoop, startWebhook } from "../helpers/harness.ts";
import { startDnsServer } from "../../scripts/lib/dns_server.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

/** reliability-limits §6.5 rows that need the handler: TCP framing (#1), QDCOUNT 0 (#8), spoofing (#12). */

Deno.test({
  name:
    "dns catalogue 6.5#12: replies with another question or malformed are dropped; the real one is used",
  ignore: needs("dig"),
  async fn() {
    // An upstream that answers every query three times: a reply to another question with
    // the same id, a malformed message with the same id, then (50 ms later) the real answer.
    const upstream = dgram.createSocket("udp4");
    await new Promise<void>((r) => upstream.bind(0, "127.0.0.1", () => r()));
    const timers = new Set<ReturnType<typeof setTimeout>>();
    upstream.on("message", (msg: Buffer, from: dgram.RemoteInfo) => {
      const q = dnsPacket.decode(msg);
      const reply = (name: string, ip: string) =>
        dnsPacket.encode({
          type: "response",
          id: q.id,
          flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
          questions: [{ type: "A", name }],
          answers: [{ type: "A", name, ttl: 60, data: ip }],
        });
      upstream.send(reply("evil.test", "127.6.6.6"), from.port, from.address);
      upstream.send(Buffer.from([msg[0], msg[1], 0x81, 0x80, 0, 1]), from.port, from.address);
      const t = setTimeout(() => {
        timers.delete(t);
        upstream.send(reply(q.questions[0].name, "127.0.0.7"), from.port, from.address);
      }, 50);
      timers.add(t);
    });
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: d
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: dns, metadata: { dns: "udp://127.0.0.1:${upstream.address().port}", timeout: 2s } }
    listener: { type: udp }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    try {
      const r = await run("dig", [
        "@127.0.0.1",
        "-p",
        String(snoop.port()),
        "real.test",
        "+tries=1",
        "+time=5",
      ]);
      assert.match(r.stdout, /real\.test\.\s+60\s+IN\s+A\s+127\.0\.0\.7/);
      assert.doesNotMatch(r.stdout, /127\.6\.6\.6/);
      const [rec] = (await hook.waitFor(1)) as Rec[];
      assert.equal(rec.err, undefined);
      assert.match(rec.dns.answer, /127\.0\.0\.7/);
    } finally {
      await snoop.stop(0);
      await hook.close();
      for (const t of timers) clearTimeout(t);
      upstream.close();
    }
  },
});

Deno.test({
  name:
    "dns catalogue 6.5#1 and #8 over TCP: length 0, a short message, QDCOUNT 0: recorded, never hung",
  async fn() {
    const upstream = await startDnsServer({ "a.test": "127.0.0.9" });
    const hook = await startWebhook();
    const snoop = await startSnoop(`
services:
  - name: d
    addr: 127.0.0.1:0
    recorders: [{ name: hook }]
    handler: { type: dns, metadata: { dns: "tcp://127.0.0.1:${upstream.port}", timeout: 2s } }
recorders: [{ name: hook, http: { url: "${hook.url}" } }]
`);
    const exchange = async (bytes: number[]) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port() });
      await conn.write(Uint8Array.from(bytes));
      await conn.closeWrite();
      const got = await readAll(conn);
      conn.close();
      return got;
    };
    try {
      // #1: a zero length prefix: no message to answer; closed, recorded.
      assert.equal((await exchange([0, 0])).length, 0);
      // #1: the prefix promises 50 bytes, 12 arrive: closed, recorded.
      assert.equal((await exchange([0, 50, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])).length, 0);
      // #8: QDCOUNT 0 is passed on; the upstream's reply comes back framed.
      const noQuestion = [0, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
      const reply = await exchange([0, noQuestion.length, ...noQuestion]);
      assert.ok(reply.length > 2, "an answer came back");
      assert.equal((reply[2] << 8) | reply[3], 7, "same id");
      const recs = (await hook.waitFor(3)) as Rec[];
      const errs = recs.map((r) => r.err ?? "").sort();
      const passed = recs.find((r) => r.dns?.id === 7)!;
      assert.equal(passed.err, undefined, "QDCOUNT 0 answered without error");
      assert.equal(passed.dns.name, "");
      assert.ok(errs.some((e) => /shorter than its 12-byte header/.test(e)), errs.join(" | "));
      assert.ok(errs.some((e) => /closed inside a 50-byte message/.test(e)), errs.join(" | "));
    } finally {
      await snoop.stop(0);
      await hook.close();
      await upstream.close();
    }
  },
});
