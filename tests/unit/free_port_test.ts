import assert from "node:assert/strict";
import { freePort } from "../../scripts/lib/processes.ts";

Deno.test("freePort never hands out the same port twice in one process", () => {
  // The kernel gives a just-closed port out again readily (about one in eight of 2,000
  // probes in a row here), and tests take several ports one after another for one run.
  const ports = Array.from({ length: 2000 }, freePort);
  assert.equal(new Set(ports).size, ports.length);
  for (const port of ports.slice(0, 20)) {
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    l.close();
  }
});
