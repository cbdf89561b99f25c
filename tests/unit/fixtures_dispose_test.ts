import assert from "node:assert/strict";
import { startOrigin, startSnoop, startWebhook } from "../helpers/harness.ts";

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
async function listening(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("fixtures: await using stops snoop, the origin and the webhook at the end of the scope", async () => {
  const ports: number[] = [];
  {
    await using origin = await startOrigin();
    await using hook = await startWebhook();
    await using snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    handler: { type: http }
`);
    ports.push(origin.port, hook.port, snoop.port());
    for (const port of ports) assert.ok(await listening(port), `${port} listens in the scope`);
  }
  for (const port of ports) assert.equal(await listening(port), false, `${port} closed after it`);
});
