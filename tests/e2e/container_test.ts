/**
 * The Containerfile's runtime stage, run as a plain process: its ENTRYPOINT and CMD, its
 * ENV (and nothing else from this machine's environment), its config file, as its USER
 * (setpriv), with /data, /app, /etc/snoop and /usr/local/bin/deno mapped to a temporary
 * directory and this machine's deno. Inside a network namespace (the ports are the
 * container's own, 8080 and 8081) it makes the CA as docs/container.md says, starts, passes
 * its HEALTHCHECK, proxies and records, and serves the UI only with the token from the
 * environment.
 */
import assert from "node:assert/strict";
import { buildBundle } from "../../scripts/bundle.ts";
import { needs } from "../helpers/harness.ts";
import { namespaceRefusal, smokeInNamespace } from "../helpers/smoke.ts";

const IN_CI = Deno.env.get("CI") === "true";
const CONTAINERFILE = new URL("../../Containerfile", import.meta.url);

/** What the test reads from the Containerfile's last stage. */
export interface RuntimeStage {
  env: Record<string, string>;
  user: string;
  entrypoint: string[];
  cmd: string[];
  health: string[];
  /** Files written with `COPY <<'EOF' dest`: destination → text. */
  files: Map<string, string>;
  volumes: string[];
}

/** Parses the last stage of a Containerfile (the instructions this image uses). */
export function parseRuntimeStage(text: string): RuntimeStage {
  const stage: RuntimeStage = {
    env: {},
    user: "",
    entrypoint: [],
    cmd: [],
    health: [],
    files: new Map(),
    volumes: [],
  };
  const lines = text.split("\n");
  const instructions: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (/^\s*(#|$)/.test(line)) continue;
    const heredoc = /^COPY\s+<<'?(\w+)'?\s+(\S+)\s*$/.exec(line);
    if (heredoc) {
      const body: string[] = [];
      while (++i < lines.length && lines[i] !== heredoc[1]) body.push(lines[i]);
      instructions.push(`HEREDOC ${heredoc[2]}`);
      stage.files.set(heredoc[2], body.join("\n") + "\n");
      continue;
    }
    while (line.endsWith("\\") && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i];
    instructions.push(line.trim());
  }
  const last = instructions.findLastIndex((l) => /^FROM\s/i.test(l));
  for (const ins of instructions.slice(last + 1)) {
    const [, op, rest] = /^(\S+)\s+([\s\S]*)$/.exec(ins) ?? [];
    switch (op?.toUpperCase()) {
      case "ENV":
        for (const m of rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) {
          stage.env[m[1]] = m[2].replace(/^"|"$/g, "");
        }
        break;
      case "USER":
        stage.user = rest.trim();
        break;
      case "ENTRYPOINT":
        stage.entrypoint = JSON.parse(rest);
        break;
      case "CMD":
        stage.cmd = JSON.parse(rest);
        break;
      case "VOLUME":
        stage.volumes = JSON.parse(rest);
        break;
      case "HEALTHCHECK": {
        const m = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(rest);
        if (m) stage.health = JSON.parse(m[1]);
        break;
      }
    }
  }
  for (const p of [stage.entrypoint, stage.cmd, stage.health]) {
    if (p.length === 0) throw new Error("ENTRYPOINT, CMD and HEALTHCHECK CMD must be JSON arrays");
  }
  return stage;
}

const missing = needs("unshare", "ip", "curl", "openssl", "setpriv");
const refusal = missing ? "missing programs" : await namespaceRefusal();
if (refusal && !IN_CI) console.warn(`ignored: ${refusal}`);

Deno.test("container: the Containerfile's runtime stage is what the test runs", async () => {
  const text = await Deno.readTextFile(CONTAINERFILE);
  const stage = parseRuntimeStage(text);
  assert.equal(stage.env.SNOOP_HOME, "/data");
  // The volume's mount point is the user's in the image, or a new volume would be root's.
  assert.ok(text.includes(`--chown=${stage.user} /out/data /data\n`), "/data owned by USER");
  assert.deepEqual(stage.volumes, ["/data"]);
  assert.match(stage.user, /^[1-9]\d*(:[1-9]\d*)?$/, "a numeric non-root USER");
  assert.ok(stage.entrypoint.includes("/app/snoop.js"));
  assert.ok(stage.health.some((a) => a.includes("/healthz")));
  assert.ok(stage.files.has(stage.cmd[stage.cmd.indexOf("-C") + 1]), "CMD's config is built in");
});

Deno.test({
  name: "container: the entrypoint serves as a non-root process (CA, health, proxy, store, UI)",
  ignore: !!refusal && !IN_CI,
  sanitizeResources: false,
  async fn() {
    if (refusal) throw new Error(refusal);
    const stage = parseRuntimeStage(await Deno.readTextFile(CONTAINERFILE));
    const [uid, gid = uid] = stage.user.split(":").map(Number);
    const work = await Deno.makeTempDir({ prefix: "snoop-container-test-" });
    try {
      await Deno.chmod(work, 0o755);
      const root = `${work}/root`;
      // One pass over the container's absolute paths where a path can start.
      const map = (s: string) =>
        s.replace(
          /(^|[\s"'=:,[])(\/usr\/local\/bin\/deno|\/app|\/etc\/snoop|\/tmp|\/data)(?=\/|\s|"|'|$)/gm,
          (_, pre, p) => pre + (p === "/usr/local/bin/deno" ? Deno.execPath() : root + p),
        );
      for (const d of ["app", "etc/snoop", "tmp", "data"]) {
        await Deno.mkdir(`${root}/${d}`, { recursive: true, mode: 0o755 });
      }
      // The volume and /tmp belong to the container's user; the rest is root's, read-only.
      await Deno.chown(`${root}/data`, uid, gid);
      await Deno.chmod(`${root}/tmp`, 0o1777);
      await buildBundle(`${root}/app/snoop.js`);
      await Deno.chmod(`${root}/app/snoop.js`, 0o644);
      for (const [dest, text] of stage.files) await Deno.writeTextFile(map(dest), map(text));
      const asUser = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"];
      const token = "container-test-token-0123456789";
      const plan = {
        entrypoint: [...asUser, ...stage.entrypoint.map(map)],
        cmd: stage.cmd.map(map),
        caArgs: ["ca", "--dir", map("/data")],
        health: [...asUser, ...stage.health.map(map)],
        env: {
          ...Object.fromEntries(Object.entries(stage.env).map(([k, v]) => [k, map(v)])),
          PATH: "/usr/local/bin:/usr/bin:/bin",
          SNOOP_UI_TOKEN: token,
        },
        token,
        data: map("/data"),
        uid,
      };
      const out = await smokeInNamespace(work, ["container"], {
        SMOKE_CONTAINER: JSON.stringify(plan),
      });
      assert.match(out, /SMOKE OK container/, out);
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
