import assert from "node:assert/strict";
import { FileRecorder } from "../../src/recorder/file_recorder.ts";
import { Logger } from "../../src/util/log.ts";
import { until } from "../helpers/harness.ts";

/** A file recorder on `path`, as a configuration with `file: {path, sep: "\n"}` makes it. */
function fileRecorder(path: string, maxSizeMB?: number): FileRecorder {
  return new FileRecorder({
    name: "file",
    queueSize: 100,
    where: { source: "test.yaml", line: 1, path: "recorders[0]" },
    kind: "file",
    file: {
      path,
      sep: "\n",
      ...(maxSizeMB === undefined ? {} : { rotation: { maxSizeMB, maxBackups: 2 } }),
    },
  }, new Logger("test"));
}

Deno.test({
  name: "file recorder: a FIFO (as /dev/null, a device) gets records but keeps its mode, unrotated",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "snoop-file-recorder-" });
    try {
      const fifo = `${dir}/records.fifo`;
      const made = await new Deno.Command("mkfifo", { args: ["-m", "644", fifo] }).output();
      assert.ok(made.success, "mkfifo");
      // Opening a FIFO waits for the other end: the reader opens while the recorder does.
      const reading = Deno.open(fifo, { read: true });
      // With rotation at a size the records pass: a regular file would be renamed to .1.
      const recorder = fileRecorder(fifo, 0.0001);
      for (let i = 0; i < 20; i++) recorder.record(JSON.stringify({ i, pad: "x".repeat(20) }));
      const reader = await reading;
      let text = "";
      const buf = new Uint8Array(65536);
      await until(async () => {
        const n = await reader.read(buf);
        text += new TextDecoder().decode(buf.subarray(0, n ?? 0));
        return text.split("\n").length > 20;
      }, "20 records through the FIFO");
      await recorder.close();
      reader.close();
      assert.deepEqual(text.trim().split("\n").map((l) => JSON.parse(l).i), [...Array(20).keys()]);
      assert.equal(Deno.statSync(fifo).mode! & 0o777, 0o644, "the FIFO's mode is left alone");
      assert.throws(() => Deno.statSync(`${fifo}.1`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "file recorder: a regular file is made 0600 and rotated past its size",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "snoop-file-recorder-" });
    try {
      const path = `${dir}/records.jsonl`;
      await Deno.writeTextFile(path, "", { mode: 0o644 });
      await Deno.chmod(path, 0o644);
      const recorder = fileRecorder(path, 0.0001); // ~100 bytes
      for (let i = 0; i < 20; i++) {
        recorder.record(JSON.stringify({ i, pad: "x".repeat(20) }));
        await until(() => recorder.stats().written === i + 1, `record ${i} written`);
      }
      await recorder.close();
      assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
      assert.ok(Deno.statSync(`${path}.1`).isFile, "rotated to .1");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "file recorder: symlinks planted at the path or a backup are not chmodded through",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "snoop-file-recorder-" });
    try {
      const elsewhere = `${dir}/not-snoops`;
      await Deno.mkdir(elsewhere);
      const targets = [1, 2].map((n) => `${elsewhere}/file-${n}`);
      for (const t of targets) {
        await Deno.writeTextFile(t, "");
        await Deno.chmod(t, 0o644);
      }
      const path = `${dir}/records.jsonl`;
      // Backups an attacker planted as links: rotation shifts them up and must not chmod them.
      await Deno.symlink(targets[0], `${path}.1`);
      await Deno.symlink(targets[1], `${path}.2`);
      const recorder = fileRecorder(path, 0.0001);
      for (let i = 0; i < 12; i++) {
        recorder.record(JSON.stringify({ i, pad: "x".repeat(20) }));
        await until(() => recorder.stats().written === i + 1, `record ${i} written`);
      }
      await recorder.close();
      for (const t of targets) assert.equal(Deno.statSync(t).mode! & 0o777, 0o644, t);
      assert.equal(Deno.statSync(path).mode! & 0o777, 0o600, "snoop's own file is private");
      // The main path itself as a link: records go there, its target's mode stays.
      const linked = `${dir}/linked.jsonl`;
      await Deno.symlink(targets[0], linked);
      const viaLink = fileRecorder(linked);
      viaLink.record('{"via":"link"}');
      await until(() => viaLink.stats().written === 1, "the record written");
      await viaLink.close();
      assert.equal(Deno.statSync(targets[0]).mode! & 0o777, 0o644);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
