import assert from "node:assert/strict";
import { freePort } from "../../scripts/lib/processes.ts";

Deno.test("freePort never hands out the same port twice in one process", () => {
  // Probing with port 0, the kernel gave a just-closed port out again about once in eight
  // of 2,000 probes in a row here, and tests take several ports one after another per run.
  const ports = Array.from({ length: 2000 }, freePort);
  assert.equal(new Set(ports).size, ports.length);
  for (const port of ports.slice(0, 20)) Deno.listen({ hostname: "127.0.0.1", port }).close();
});

Deno.test({
  name: "freePort picks below the ephemeral range, where outgoing connections take theirs",
  ignore: Deno.build.os !== "linux",
  fn() {
    const range = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    const low = Number(range.trim().split(/\s+/)[0]);
    for (let i = 0; i < 200; i++) {
      const port = freePort();
      assert.ok(port >= 10_000 && port < low, `${port} outside 10000..${low - 1}`);
    }
    // An outgoing connection's local port comes from the ephemeral range.
    const l = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
    const c = Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port });
    return Promise.all([c, l.accept()]).then(([client, server]) => {
      assert.ok((client.localAddr as Deno.NetAddr).port >= low);
      client.close();
      server.close();
      l.close();
    });
  },
});
