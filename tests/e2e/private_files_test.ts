import assert from "node:assert/strict";
import {
  curl,
  freePort,
  needs,
  startOrigin,
  startSnoop,
  until,
  waitForPort,
} from "../helpers/harness.ts";
import { sampleRecord } from "../helpers/records.ts";

/**
 * What snoop writes holds decrypted traffic or keys: directories it makes are 0700, its files
 * 0600, also under `umask 000` (the subprocesses here run with it), where a mode given only
 * at creation would come out as asked but a default one world-writable.
 */

const mode = (path: string) => (Deno.statSync(path).mode! & 0o777).toString(8);

/** `deno run -A mod.ts ...args` under umask 000, with `env`. */
function snoopUnderUmask0(args: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", 'umask 000; exec "$@"', "sh", Deno.execPath(), "run", "-A", "mod.ts", ...args],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

Deno.test({
  name:
    "private files: snoop collect under umask 000 makes ~/.snoop 0700 and collector.db, -wal and -shm 0600",
  ignore: needs("curl") || Deno.build.os !== "linux",
  async fn() {
    const home = await Deno.makeTempDir();
    const port = freePort();
    const child = snoopUnderUmask0(["collect", "--addr", `127.0.0.1:${port}`], {
      HOME: home,
      SNOOP_HOME: "",
      SNOOP_UI_TOKEN: "ui-token",
    });
    try {
      await waitForPort(port);
      const r = await curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        sampleRecord(0),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `http://127.0.0.1:${port}/`,
      );
      assert.equal(r.stdout, "200");
      await until(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/records`, {
          headers: { authorization: "Bearer ui-token" },
        });
        return (await res.json()).records?.length === 1;
      }, "the record stored");
      const data = `${home}/.snoop`;
      const db = `${data}/collector.db`;
      assert.deepEqual(
        [data, db, `${db}-wal`, `${db}-shm`].map((p) => `${p.slice(home.length)} ${mode(p)}`),
        [
          "/.snoop 700",
          "/.snoop/collector.db 600",
          "/.snoop/collector.db-wal 600",
          "/.snoop/collector.db-shm 600",
        ],
      );
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "private files: snoop ca under umask 000 makes its directories 0700 and ca.key 0600, also over a readable key",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const tmp = await Deno.makeTempDir();
    const dir = `${tmp}/a/b`;
    try {
      const make = async (...extra: string[]) => {
        const st = await snoopUnderUmask0(["ca", "--dir", dir, ...extra], { HOME: tmp }).status;
        assert.equal(st.code, 0);
      };
      await make();
      assert.deepEqual([`${tmp}/a`, dir, `${dir}/ca.key`].map(mode), ["700", "700", "600"]);
      const first = await Deno.readTextFile(`${dir}/ca.key`);
      // A key someone made readable is replaced by one that never is.
      await Deno.chmod(`${dir}/ca.key`, 0o644);
      await make("--force");
      assert.equal(mode(`${dir}/ca.key`), "600");
      assert.notEqual(await Deno.readTextFile(`${dir}/ca.key`), first);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["ca.crt", "ca.key"]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "private files: the file recorder's directories are 0700, its file and the rotated ones 0600 (older ones too)",
  ignore: needs("curl"),
  async fn() {
    const dir = await Deno.makeTempDir();
    // `fresh`: directories snoop makes. `existing`: one the user made, left as it is, with a
    // file and a backup an older snoop wrote readable by all.
    const fresh = `${dir}/new/deeper`, existing = `${dir}/existing`;
    await Deno.mkdir(existing);
    await Deno.chmod(existing, 0o755);
    for (const f of ["records.jsonl", "records.jsonl.1"]) {
      await Deno.writeTextFile(`${existing}/${f}`, "{}\n");
      await Deno.chmod(`${existing}/${f}`, 0o644);
    }
    const origin = await startOrigin();
    const service = (name: string) => `
  - name: ${name}
    addr: 127.0.0.1:0
    recorders: [{ name: ${name} }]
    handler: { type: http }`;
    const recorder = (name: string, path: string) => `
  - name: ${name}
    file: { path: "${path}/records.jsonl", sep: "\\n", rotation: { maxSize: 0.001, maxBackups: 10 } }`;
    const snoop = await startSnoop(
      `services:${service("a")}${service("b")}\nrecorders:${recorder("a", fresh)}${
        recorder("b", existing)
      }\n`,
    );
    try {
      for (const name of ["a", "b"]) {
        for (let i = 0; i < 6; i++) {
          await curl("-x", `127.0.0.1:${snoop.port(name)}`, `${origin.url}/f${i}`);
        }
        await until(() => snoop.recorders.get(name)!.stats().written === 6, "6 records written");
      }
      assert.deepEqual([`${dir}/new`, fresh, existing].map(mode), ["700", "700", "755"]);
      for (const d of [fresh, existing]) {
        const files = [...Deno.readDirSync(d)].map((e) => e.name).sort();
        assert.ok(files.includes("records.jsonl.2"), files.join(","));
        for (const f of files) assert.equal(mode(`${d}/${f}`), "600", `${d}/${f}`);
      }
    } finally {
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
