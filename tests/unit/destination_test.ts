import assert from "node:assert/strict";
import {
  formatIP,
  isLoopbackAddress,
  numericAddress,
  parseIPv4Loose,
} from "../../src/net/address.ts";
import { resolveDestination, SelfTarget } from "../../src/net/dial.ts";
import { EgressDenied, EgressGuard } from "../../src/net/egress_guard.ts";
import { SelfAddresses } from "../../src/net/self_addresses.ts";

const text = (host: string) => {
  const ip = numericAddress(host);
  return ip ? formatIP(ip) : null;
};

Deno.test("numericAddress: every spelling of loopback a connect accepts is 127.0.0.1", () => {
  for (
    const spelling of [
      "127.0.0.1",
      "127.1",
      "127.0.1",
      "2130706433",
      "0x7f000001",
      "0X7F000001",
      "0x7f.1",
      "0177.0.0.1",
      "0177.1",
      "017700000001",
      "127.000.000.001",
      "::ffff:127.0.0.1",
      "[::ffff:127.0.0.1]",
      "::ffff:7f00:1",
      "[::ffff:7f00:1]",
      "0:0:0:0:0:ffff:7f00:1",
    ]
  ) assert.equal(text(spelling), "127.0.0.1", spelling);
  assert.equal(text("0"), "0.0.0.0");
  assert.equal(text("0.0.0.0"), "0.0.0.0");
  assert.equal(text("00"), "0.0.0.0");
  assert.equal(text("0x0"), "0.0.0.0");
  assert.equal(text("10.1.2"), "10.1.0.2", "the last part fills two bytes");
  assert.equal(text("4294967295"), "255.255.255.255");
  assert.equal(text("::1"), "::1");
  assert.equal(text("[::1]"), "::1");
  assert.equal(text("::"), "::");
  assert.equal(text("[::]"), "::");
  assert.equal(text("fe80::1%eth0"), "fe80::1");
});

Deno.test("numericAddress: names and malformed numbers are not addresses (they get resolved)", () => {
  for (
    const name of [
      "127.0.0.1.nip.io",
      "localhost",
      "example.com",
      "1.2.3.4.5",
      "0x",
      "0x.1",
      "08",
      "09.1",
      "127.0.0.1.",
      ".127.0.0.1",
      "127..1",
      "",
      "4294967296", // 2^32
      "256.1",
      "1.256.1",
      "1.1.65536",
      "0x1ffffffff",
      "1".repeat(300),
      "0".repeat(300),
      "+1",
      "-1",
      " 127.0.0.1",
      "127.0.0.1 ",
      "[127.0.0.1]",
      "::ffff:127.1", // an IPv6 literal's dotted tail is strict
      "[::1",
      "1::2::3",
      "1x",
    ]
  ) assert.equal(numericAddress(name), null, JSON.stringify(name.slice(0, 20)));
  assert.equal(parseIPv4Loose("0x"), null);
});

Deno.test("isLoopbackAddress: 127/8, ::1, 0.0.0.0/8 and ::, not their neighbours", () => {
  const loop = (h: string) => isLoopbackAddress(numericAddress(h)!);
  for (const h of ["127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "::1", "::", "0"]) {
    assert.equal(loop(h), true, h);
  }
  for (const h of ["128.0.0.1", "126.255.255.255", "1.0.0.0", "::2", "::1:0", "fe80::1"]) {
    assert.equal(loop(h), false, h);
  }
});

/** snoop listening on 127.0.0.1:8081 (a UI), 0.0.0.0:8080 and [::1]:9090. */
function self(): SelfAddresses {
  const s = new SelfAddresses();
  s.add({ transport: "tcp", hostname: "127.0.0.1", port: 8081 });
  s.add({ transport: "tcp", hostname: "0.0.0.0", port: 8080 });
  s.add({ transport: "tcp", hostname: "::1", port: 9090 });
  s.add({ transport: "tcp", hostname: "192.0.2.9", port: 7070 });
  s.localAddresses = () => [numericAddress("192.0.2.2")!, numericAddress("fd00::2")!];
  return s;
}

Deno.test("self addresses: addresses are compared, not spellings", () => {
  const s = self();
  const reaches = (host: string, port: number) => s.reaches(numericAddress(host)!, port);
  for (const h of ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0", "0.0.0.0", "::1", "::"]) {
    assert.equal(reaches(h, 8081), true, `${h}:8081, a loopback listener`);
    assert.equal(reaches(h, 8080), true, `${h}:8080, a wildcard listener`);
    assert.equal(reaches(h, 9090), true, `${h}:9090, ::1 is loopback too`);
  }
  assert.equal(reaches("::ffff:127.0.0.2", 8081), true);
  assert.equal(reaches("192.0.2.2", 8080), true, "a wildcard listener: every local address");
  assert.equal(reaches("fd00::2", 8080), true);
  assert.equal(reaches("192.0.2.2", 8081), false, "a loopback listener is not on 192.0.2.2");
  assert.equal(reaches("192.0.2.3", 8080), false, "not an address of this machine");
  assert.equal(reaches("192.0.2.9", 7070), true);
  assert.equal(reaches("::ffff:192.0.2.9", 7070), true);
  assert.equal(reaches("127.0.0.1", 7070), false, "a listener on one address only");
  assert.equal(reaches("127.0.0.1", 8082), false, "other ports are other programs");
  const blind = self();
  blind.localAddresses = () => {
    throw new Deno.errors.NotCapable("no --allow-sys");
  };
  assert.equal(
    blind.reaches(numericAddress("198.51.100.1")!, 8080),
    true,
    "cannot list the interfaces: a wildcard listener's port is refused",
  );
  assert.equal(blind.reaches(numericAddress("198.51.100.1")!, 8081), false);
});

/** A resolver that answers from a table, and counts its calls. */
function table(answers: Record<string, string[]>) {
  const calls: string[] = [];
  return {
    calls,
    lookup: (name: string) => {
      calls.push(name);
      const a = answers[name];
      return a ? Promise.resolve(a) : Promise.reject(new Error(`${name}: ENOTFOUND`));
    },
  };
}

Deno.test("resolveDestination: numeric hosts are not looked up; the checked address is returned", async () => {
  const t = table({});
  const guard = { self: self() };
  assert.deepEqual(await resolveDestination("0x7f000001", 80, guard, t.lookup), ["127.0.0.1"]);
  assert.deepEqual(await resolveDestination("[::ffff:7f00:1]", 80, guard, t.lookup), [
    "127.0.0.1",
  ]);
  assert.deepEqual(await resolveDestination("fe80::1%eth0", 80, guard, t.lookup), [
    "fe80::1%eth0",
  ]);
  assert.deepEqual(t.calls, []);
  for (const h of ["127.1", "2130706433", "0", "0.0.0.0", "[::ffff:127.0.0.1]", "[::]", "::1"]) {
    await assert.rejects(
      resolveDestination(h, 8081, guard, t.lookup),
      (e) => e instanceof SelfTarget && e.message === "the target is snoop itself",
      h,
    );
  }
});

Deno.test("resolveDestination: a name is looked up once and every address checked", async () => {
  const t = table({
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "split.test": ["127.0.0.1", "198.51.100.7"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "zero.test": ["0.0.0.0"],
  });
  const guard = { self: self() };
  await assert.rejects(resolveDestination("127.0.0.1.nip.io", 8081, guard, t.lookup), SelfTarget);
  await assert.rejects(resolveDestination("mapped.test", 8080, guard, t.lookup), SelfTarget);
  await assert.rejects(resolveDestination("zero.test", 8081, guard, t.lookup), SelfTarget);
  assert.deepEqual(
    await resolveDestination("split.test", 8081, guard, t.lookup),
    ["198.51.100.7"],
    "the self address is skipped, the other one dialled",
  );
  assert.deepEqual(await resolveDestination("127.0.0.1.nip.io", 8082, guard, t.lookup), [
    "127.0.0.1",
  ]);
  assert.deepEqual(t.calls, [
    "127.0.0.1.nip.io",
    "mapped.test",
    "zero.test",
    "split.test",
    "127.0.0.1.nip.io",
  ]);
  await assert.rejects(resolveDestination("nowhere.test", 80, guard, t.lookup), /ENOTFOUND/);
});

Deno.test("resolveDestination: egress deny loopback catches every spelling, 0.0.0.0 and ::", async () => {
  const egress = EgressGuard.create(["loopback"], []) as EgressGuard;
  const guard = { self: null, egress };
  const t = table({ "rebind.test": ["0.0.0.0"] });
  for (
    const h of [
      "127.1",
      "2130706433",
      "0x7f000001",
      "0177.0.0.1",
      "0",
      "0.0.0.0",
      "[::]",
      "[::ffff:127.0.0.1]",
      "::ffff:7f00:1",
      "rebind.test",
    ]
  ) {
    await assert.rejects(
      resolveDestination(h, 80, guard, t.lookup),
      (e) => e instanceof EgressDenied && /egress\.deny loopback: /.test(e.message),
      h,
    );
  }
  assert.deepEqual(await resolveDestination("198.51.100.7", 80, guard, t.lookup), [
    "198.51.100.7",
  ]);
});
