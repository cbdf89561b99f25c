import assert from "node:assert/strict";
import { needs, run } from "../helpers/harness.ts";

const PROBE = new URL("../helpers/whole_strings_probe.ts", import.meta.url).pathname;

Deno.test({
  name:
    "records reach JSON.stringify with every string whole (no cons or sliced string sends it down its slow path)",
  ignore: needs("curl", "dig"),
  async fn() {
    // V8's view of each string needs --allow-natives-syntax: the probe runs in its own process.
    const r = await run(Deno.execPath(), [
      "run",
      "--allow-all",
      "--v8-flags=--allow-natives-syntax",
      PROBE,
    ], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const { checked, findings, control } = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    // The check tells a concatenated and a sliced string from whole ones.
    assert.deepEqual(control, [".service", ".uri"]);
    // The forward proxy's record, the CONNECT tunnels' (HTTP sniffed inside, and TLS), the
    // tcp forwarder's sniffed exchange, the DNS query's.
    assert.deepEqual(checked.toSorted(), [
      "a-forwarder-named-at-length http",
      "a-proxy-named-at-length http",
      "a-proxy-named-at-length http",
      "a-proxy-named-at-length tls",
      "a-resolver-named-at-length dns",
    ]);
    assert.deepEqual(findings, []);
  },
});
