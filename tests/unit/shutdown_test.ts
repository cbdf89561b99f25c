import assert from "node:assert/strict";
import { Shutdown } from "../../src/util/shutdown.ts";
import { closeQuietly } from "../../src/net/stream.ts";

Deno.test("shutdown runs what is registered once, skips what was unregistered", () => {
  const shutdown = new Shutdown();
  const ran: string[] = [];
  shutdown.onShutdown(() => ran.push("a"));
  const cancelB = shutdown.onShutdown(() => ran.push("b"));
  const cancelA2 = shutdown.onShutdown(() => ran.push("a again"));
  cancelB();
  cancelA2();
  cancelA2(); // twice is harmless
  shutdown.onShutdown(() => {
    throw new Error("one callback failing");
  });
  shutdown.onShutdown(() => ran.push("c"));
  const errors = shutdown.trigger();
  assert.deepEqual(errors.map((e) => (e as Error).message), ["one callback failing"]);
  assert.deepEqual(shutdown.trigger(), []);
  assert.deepEqual(ran, ["a", "c"]);
  assert.equal(shutdown.triggered, true);
  // Registered after the shutdown came: runs at once.
  shutdown.onShutdown(() => ran.push("late"));
  assert.deepEqual(ran, ["a", "c", "late"]);
});

Deno.test("shutdown with 20,000 registrations runs exactly those not cancelled", () => {
  // A behaviour check, not a timing: every cancel leaves exactly the others registered.
  const shutdown = new Shutdown();
  let ran = 0;
  const cancels = Array.from({ length: 20_000 }, () => shutdown.onShutdown(() => ran++));
  for (let i = 0; i < cancels.length; i += 2) cancels[i]();
  shutdown.trigger();
  assert.equal(ran, 10_000);
});

Deno.test("closeQuietly closes a connection once, however often it is called", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const peer = await accepted;
  let closes = 0;
  const counted = {
    close() {
      closes++;
      conn.close();
    },
  };
  closeQuietly(counted);
  closeQuietly(counted);
  closeQuietly(null);
  assert.equal(closes, 1);
  // The peer sees the close.
  assert.equal(await peer.read(new Uint8Array(8)), null);
  // A stream closed some other way first is still closed quietly.
  peer.close();
  closeQuietly(peer);
  listener.close();
});
