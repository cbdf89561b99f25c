/**
 * Builds `dist/snoop.js`: snoop in one JavaScript file that runs with nothing but the `deno`
 * binary, offline, with an empty DENO_DIR.
 *
 *   deno task bundle                  # dist/snoop.js
 *   deno task bundle --out other.js
 *   deno run --allow-all --v8-flags=... dist/snoop.js -L "http://:8080?sniffing=true"
 *
 * `deno bundle` follows the module graph: npm packages are bundled in, `node:` built-ins stay
 * imports (the runtime has them), text imports (`with { type: "text" }`, the web UI's files)
 * become string constants. It does not follow workers: `new Worker(new URL("./x.ts",
 * import.meta.url))` would look for `x.ts` next to the bundle. So every such worker in `src/`
 * is bundled on its own, embedded in the main bundle as a string, and started from a blob:
 * URL made of that string. A `new Worker(` in a form this script does not recognise, or one
 * left untouched in the output, fails the build: the bundle would start and then break the
 * first time that worker is needed.
 */
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** A worker started in the sources: where, the URL text as written, and its script. */
export interface WorkerSite {
  /** Source file (relative to the repository) and 1-based line of `new Worker(`. */
  file: string;
  line: number;
  /** The relative specifier as written, e.g. `./store_worker_script.ts`. */
  specifier: string;
  /** The worker script, relative to the repository. */
  script: string;
}

const WORKER_CALL = /new\s+Worker\s*\(/g;
const WORKER_URL =
  /^new\s+Worker\s*\(\s*new\s+URL\(\s*(["'])(\.{1,2}\/[^"']+)\1\s*,\s*import\.meta\.url\s*\)/;

/** Every `new Worker(` in the `.ts` files under `dir`; throws on one it cannot resolve. */
export async function findWorkers(dir = join(ROOT, "src")): Promise<WorkerSite[]> {
  const sites: WorkerSite[] = [];
  const problems: string[] = [];
  for await (const path of walkTs(dir)) {
    const text = await Deno.readTextFile(path);
    for (const m of text.matchAll(WORKER_CALL)) {
      const line = text.slice(0, m.index).split("\n").length;
      const file = relative(ROOT, path);
      const before = text.slice(text.lastIndexOf("\n", m.index) + 1, m.index);
      if (/^\s*(\/\/|\*)/.test(before)) continue; // in a comment
      const form = WORKER_URL.exec(text.slice(m.index));
      if (!form) {
        problems.push(
          `${file}:${line}: a worker not started as new Worker(new URL("./x.ts", ` +
            "import.meta.url)); the bundle cannot embed it",
        );
        continue;
      }
      const script = relative(ROOT, resolve(dirname(path), form[2]));
      sites.push({ file, line, specifier: form[2], script });
    }
  }
  if (problems.length) throw new Error(problems.join("\n"));
  return sites;
}

async function* walkTs(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* walkTs(path);
    else if (e.isFile && /\.(ts|js|mts|mjs)$/.test(e.name)) yield path;
  }
}

/** `deno bundle` of one entry into a string. */
async function denoBundle(entry: string, out: string): Promise<string> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "deno", "--output", out, entry],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno bundle ${entry} failed:\n${new TextDecoder().decode(stderr)}`);
  }
  return await Deno.readTextFile(out);
}

/**
 * Replaces each worker's `new URL("./x.ts", import.meta.url)` in `bundled` with a blob: URL
 * of the embedded script. A specifier written the same way for two different scripts (from
 * two directories) cannot be told apart in the bundle: that fails, as does any `new Worker(`
 * left over.
 */
export function embedWorkers(
  bundled: string,
  sites: WorkerSite[],
  scripts: Map<string, string>,
): string {
  const bySpecifier = new Map<string, string>();
  for (const s of sites) {
    const other = bySpecifier.get(s.specifier);
    if (other && other !== s.script) {
      throw new Error(
        `two workers are both written "${s.specifier}" (${other}, ${s.script}): rename one`,
      );
    }
    bySpecifier.set(s.specifier, s.script);
  }
  let out = bundled;
  for (const [specifier, script] of bySpecifier) {
    const quoted = specifier.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    const call = new RegExp(
      `new\\s+Worker\\(\\s*new\\s+URL\\(\\s*(["'])${quoted}\\1\\s*,\\s*import\\.meta\\.url\\s*\\)`,
      "g",
    );
    let n = 0;
    out = out.replace(call, () => {
      n++;
      return `new Worker(__snoopWorkerUrl(${JSON.stringify(script)})`;
    });
    if (n === 0) throw new Error(`worker ${script} ("${specifier}") not found in the bundle`);
  }
  const left = [...out.matchAll(WORKER_CALL)].filter((m) =>
    !out.startsWith("new Worker(__snoopWorkerUrl(", m.index)
  );
  if (left.length) {
    const at = left.map((m) => out.slice(m.index, m.index + 80).split("\n")[0]);
    throw new Error(`workers left unembedded in the bundle:\n${at.join("\n")}`);
  }
  const table = Object.fromEntries(scripts);
  // One function declaration, appended: declarations are hoisted, so it works even when
  // called while the module is still being evaluated (mod.ts runs main() in a top-level
  // await, before anything after it has been initialised).
  return out + `
// Workers, bundled on their own by scripts/bundle.ts and started from blob: URLs.
function __snoopWorkerUrl(name) {
  const sources = ${JSON.stringify(table)};
  const urls = (__snoopWorkerUrl.urls ??= new Map());
  let url = urls.get(name);
  if (!url) {
    const source = sources[name];
    if (source === undefined) throw new Error("snoop bundle: no embedded worker " + name);
    url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    urls.set(name, url);
  }
  return url;
}
`;
}

/** Builds the bundle of `entry` (with its workers) into `output`; returns what it embedded. */
export async function buildBundle(
  output = join(ROOT, "dist", "snoop.js"),
  entry = "mod.ts",
): Promise<{ output: string; workers: WorkerSite[]; bytes: number }> {
  await Deno.mkdir(dirname(output), { recursive: true });
  const sites = await findWorkers();
  const tmp = await Deno.makeTempDir({ prefix: "snoop-bundle-" });
  try {
    const scripts = new Map<string, string>();
    for (const script of new Set(sites.map((s) => s.script))) {
      const code = await denoBundle(script, join(tmp, `w${scripts.size}.js`));
      // A worker that starts workers would need the same treatment inside it.
      if ([...code.matchAll(WORKER_CALL)].length) {
        throw new Error(`worker ${script} starts workers itself: not handled by the bundle`);
      }
      scripts.set(script, code);
    }
    const main = await denoBundle(entry, join(tmp, "main.js"));
    const text = embedWorkers(main, sites, scripts);
    await Deno.writeTextFile(output, text);
    return { output, workers: sites, bytes: new TextEncoder().encode(text).length };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  const output = i >= 0 ? resolve(Deno.args[i + 1]) : undefined;
  try {
    const r = await buildBundle(output);
    const ws = r.workers.map((w) => `${w.script} (${w.file}:${w.line})`).join(", ");
    console.log(
      `built ${relative(Deno.cwd(), r.output)}: ${(r.bytes / 1048576).toFixed(2)} MiB` +
        `, workers embedded: ${ws || "none"}`,
    );
  } catch (e) {
    console.error(`bundle FAILED: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
