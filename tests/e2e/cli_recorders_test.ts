/**
 * `-L` services with recorders from a `-C` file: `recorders=NAME` on the URL records into
 * them (with `http.body`), and a sniffing service that records nowhere says so at start
 * instead of sniffing in silence.
 */
import assert from "node:assert/strict";
import { App } from "../../src/app/app.ts";
import { loadConfig } from "../../src/cli/cli.ts";
import { ConfigError } from "../../src/config/config_error.ts";
import { Logger } from "../../src/util/log.ts";
import { curl, needs, startOrigin, startWebhook } from "../helpers/harness.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

async function recordersFile(url: string): Promise<string> {
  const file = await Deno.makeTempFile({ prefix: "snoop-recorders-", suffix: ".yaml" });
  await Deno.writeTextFile(file, `recorders:\n  - name: hook\n    http: { url: "${url}" }\n`);
  return file;
}

Deno.test({
  name: "cli: -L ...?recorders=hook&http.body=true records into a -C file's recorder",
  ignore: needs("curl"),
  async fn() {
    const hook = await startWebhook();
    const origin = await startOrigin();
    const file = await recordersFile(hook.url);
    const app = await App.start(
      await loadConfig([file], ["http://127.0.0.1:0?sniffing=true&recorders=hook&http.body=true"]),
      new Logger("test"),
    );
    try {
      const port = app.services[0].addr.port;
      const r = await curl("-p", "-x", `http://127.0.0.1:${port}`, `${origin.url}/recorded`);
      assert.equal(r.stdout, "hello GET /recorded ");
      const [rec] = await hook.waitFor(1) as Rec[];
      assert.equal(rec.http.uri, "/recorded");
      assert.equal(atob(rec.http.response.body), "hello GET /recorded ");
    } finally {
      await app.stop(0);
      await origin.close();
      await hook.close();
      await Deno.remove(file);
    }
  },
});

Deno.test("cli: recorders= names a recorder that exists; recorder options need it", async () => {
  const file = await recordersFile("http://127.0.0.1:9/");
  try {
    await assert.rejects(
      () => loadConfig([file], ["http://127.0.0.1:0?recorders=nope"]),
      (e) => e instanceof ConfigError && /recorder "nope" is not defined/.test(e.message),
    );
    await assert.rejects(
      () => loadConfig([file], ["http://127.0.0.1:0?sniffing=true&http.body=true"]),
      (e) => e instanceof ConfigError && /http\.body is a recorder option/.test(e.message),
    );
    const config = await loadConfig([file], [
      "http://127.0.0.1:0?recorders=hook&recorder.http.maxBodySize=4096",
    ]);
    const [ref] = config.services[0].recorders;
    assert.equal(ref.name, "hook");
    assert.equal(ref.record, "recorder.service.handler");
    assert.equal(ref.metadata.integer("http.maxBodySize", 0, 0), 4096);
  } finally {
    await Deno.remove(file);
  }
});

/** Starts the real command line, returns its output once `until` matches (or it exits). */
async function startOutput(args: string[], until: RegExp): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../../mod.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let out = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const read = async (s: ReadableStream<Uint8Array<ArrayBuffer>>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      if (until.test(out)) {
        // Start-up warnings follow the listening line at once; give them a moment.
        setTimeout(() => {
          try {
            child.kill("SIGTERM");
          } catch { /* gone */ }
        }, 500);
      }
    }
  };
  await Promise.all([read(child.stdout), read(child.stderr), child.status]);
  clearTimeout(timer);
  return out;
}

Deno.test("cli: a -L service that sniffs into no recorder is warned about at start", async () => {
  const file = await recordersFile("http://127.0.0.1:9/");
  try {
    const silent = await startOutput(
      ["-L", "http://127.0.0.1:0?sniffing=true", "-C", file],
      /sniffs but has no recorder[^\n]*\n/,
    );
    assert.match(silent, /WARN .*service sniffs but has no recorder.*recorders=NAME.*service-0/);
    // Named: no warning (the run ends once it listens and has said what it had to say).
    const recorded = await startOutput(
      ["-L", "http://127.0.0.1:0?sniffing=true&recorders=hook", "-C", file],
      /listening[^\n]*\n/,
    );
    assert.match(recorded, /listening/);
    assert.doesNotMatch(recorded, /no recorder/);
  } finally {
    await Deno.remove(file);
  }
});
