import assert from "node:assert/strict";
import { resolveDestination } from "../../src/net/dial.ts";
import { addressBytes, EgressGuard } from "../../src/net/egress_guard.ts";

Deno.test("egress guard: named ranges, CIDRs, IPv6 and IPv4-mapped addresses, allow exceptions", () => {
  const guard = EgressGuard.create(["internal", "203.0.113.0/24"], ["10.1.2.0/24"]);
  assert.ok(guard instanceof EgressGuard);
  const denied = (ip: string) => guard.deniedBy(ip);
  assert.equal(denied("127.0.0.1"), "internal: 127.0.0.0/8");
  assert.equal(denied("10.9.9.9"), "internal: 10.0.0.0/8");
  assert.equal(denied("10.1.2.3"), null, "allow wins");
  assert.equal(denied("172.31.255.255"), "internal: 172.16.0.0/12");
  assert.equal(denied("172.32.0.1"), null);
  assert.equal(denied("169.254.169.254"), "internal: 169.254.0.0/16");
  assert.equal(denied("::1"), "internal: ::1/128");
  assert.equal(denied("[::ffff:127.0.0.1]"), "internal: 127.0.0.0/8", "IPv4-mapped IPv6");
  assert.equal(denied("fe80::1%eth0"), "internal: fe80::/10");
  assert.equal(denied("fd12:3456::1"), "internal: fc00::/7");
  assert.equal(denied("2001:db8::1"), null);
  assert.equal(denied("203.0.113.77"), "203.0.113.0/24");
  assert.equal(denied("8.8.8.8"), null);
  assert.deepEqual([...addressBytes("1:2::3")!], [0, 1, 0, 2, ...Array(10).fill(0), 0, 3]);
  assert.equal(addressBytes("example.com"), null);
});

Deno.test("egress guard: bad entries are named", () => {
  assert.match(
    String(EgressGuard.create(["intranet"], [])),
    /"intranet" is not a range name \(loopback, /,
  );
  assert.equal(
    EgressGuard.create(["10.0.0.0/33"], []),
    `"10.0.0.0/33" is not a range name (loopback, private, link-local, metadata, unspecified, multicast, internal) or an IP or CIDR`,
  );
  assert.equal(EgressGuard.create(["private"], ["private"]), `"private" is not an IP or CIDR`);
});

Deno.test("egress guard: a name is resolved once and an allowed address returned to dial", async () => {
  const guard = EgressGuard.create(["private"], []) as EgressGuard;
  const found = await resolveDestination("localhost", 80, { self: null, egress: guard });
  assert.ok(found.every((a) => a === "127.0.0.1" || a === "::1"), String(found));
  const strict = { self: null, egress: EgressGuard.create(["loopback"], []) as EgressGuard };
  await assert.rejects(
    resolveDestination("localhost", 80, strict),
    /destination localhost resolves to (127\.0\.0\.1|::1), which is denied/,
  );
  await assert.rejects(
    resolveDestination("[::1]", 80, strict),
    /destination ::1 is denied \(egress.deny loopback: ::1\/128\)/,
  );
});

Deno.test("egress guard: loopback covers the unspecified addresses a connect sends home", () => {
  const guard = EgressGuard.create(["loopback"], []) as EgressGuard;
  assert.equal(guard.deniedBy("0.0.0.0"), "loopback: 0.0.0.0/8");
  assert.equal(guard.deniedBy("0"), "loopback: 0.0.0.0/8", "inet_aton's 0");
  assert.equal(guard.deniedBy("::"), "loopback: ::/128");
  assert.equal(guard.deniedBy("[::ffff:0.0.0.0]"), "loopback: 0.0.0.0/8");
  assert.equal(guard.deniedBy("127.1"), "loopback: 127.0.0.0/8");
  assert.equal(guard.deniedBy("1.0.0.0"), null);
  assert.equal(guard.deniedBy("::2"), null);
  // Configured ranges are written strictly: `10/8` is not a short form of 10.0.0.0/8.
  assert.match(String(EgressGuard.create(["10/8"], [])), /"10\/8" is not a range name/);
});
