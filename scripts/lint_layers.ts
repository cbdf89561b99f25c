/**
 * `deno task lint:layers`: dependencies between `src/` folders point one way, down.
 *
 * Each folder of `src/` has a rank in LAYERS (top first). A module may import from its own
 * folder and from folders ranked below it; an import of a folder ranked above, or of a
 * folder on the same rank (a sideways import), fails the check. Files at `src/` root are
 * the top (commands and wiring). Imports are read from the source text: static `import` and
 * `export … from`, and `import("…")` with a literal specifier.
 *
 * `EDGES_TO_REMOVE` lists the imports that break the rule today, each as `from -> to`
 * file paths: they are reported as warnings so they stay visible, and one that no longer
 * exists must be taken off the list (the check fails then too), so the list only shrinks.
 */

/** Top first. Folders on one line share a rank and may not import each other. */
export const LAYERS: string[][] = [
  ["(root)"],
  ["cli"],
  ["app"],
  ["collector"],
  ["web"],
  ["service"],
  ["handler"],
  ["tunnel"],
  ["mitm"],
  ["sniff"],
  ["recorder"],
  ["store"],
  ["protocol"],
  ["record"],
  ["bypass"],
  ["net"],
  ["config"],
  ["util"],
];

export const EDGES_TO_REMOVE: string[] = [
  "src/app/app.ts -> src/log.ts",
  "src/cli/cli.ts -> src/log.ts",
  "src/cli/cli.ts -> src/version.ts",
  "src/cli/collect_command.ts -> src/log.ts",
  "src/collector/collector.ts -> src/log.ts",
  "src/collector/loki.ts -> src/log.ts",
  "src/handler/handler.ts -> src/log.ts",
  "src/handler/http.ts -> src/version.ts",
  "src/mitm/interceptor.ts -> src/log.ts",
  "src/recorder/file_recorder.ts -> src/log.ts",
  "src/recorder/http_recorder.ts -> src/log.ts",
  "src/recorder/mod.ts -> src/log.ts",
  "src/recorder/pg_recorder.ts -> src/log.ts",
  "src/recorder/queued_recorder.ts -> src/log.ts",
  "src/recorder/redis_recorder.ts -> src/log.ts",
  "src/recorder/store_recorder.ts -> src/log.ts",
  "src/recorder/tcp_recorder.ts -> src/log.ts",
  "src/service/service.ts -> src/log.ts",
  "src/store/har.ts -> src/version.ts",
  "src/tunnel/conn_context.ts -> src/log.ts",
  "src/util/idle_collection.ts -> src/log.ts",
];

export interface Violation {
  from: string;
  to: string;
  why: string;
}

function folderOf(path: string): string {
  const parts = path.split("/");
  return parts.length > 2 ? parts[1] : "(root)";
}

function rankOf(folder: string, layers: string[][]): number {
  return layers.findIndex((line) => line.includes(folder));
}

/** Joins a relative specifier onto the importing file's folder. */
function resolve(from: string, specifier: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const p of specifier.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

/** Every relative import of one module, as resolved paths. */
export function importsOf(path: string, text: string): string[] {
  return [...text.matchAll(IMPORT)].map((m) => resolve(path, m[1] ?? m[2]));
}

/** The imports of `files` (path → source) that break the layering. */
export function violations(files: Map<string, string>, layers = LAYERS): Violation[] {
  const out: Violation[] = [];
  for (const [from, text] of files) {
    const a = folderOf(from);
    const ra = rankOf(a, layers);
    if (ra < 0) {
      out.push({ from, to: from, why: `folder src/${a} has no layer in scripts/lint_layers.ts` });
      continue;
    }
    for (const to of importsOf(from, text)) {
      if (!to.startsWith("src/")) continue;
      const b = folderOf(to);
      if (a === b) continue;
      const rb = rankOf(b, layers);
      if (rb < 0) continue; // reported for its own files
      if (rb < ra) out.push({ from, to, why: `src/${a} imports src/${b}, a layer above it` });
      else if (rb === ra) {
        out.push({ from, to, why: `src/${a} imports src/${b}, a layer beside it` });
      }
    }
  }
  return out;
}

async function sources(dir: string, into = new Map<string, string>()) {
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) await sources(path, into);
    else if (e.name.endsWith(".ts")) into.set(path, await Deno.readTextFile(path));
  }
  return into;
}

if (import.meta.main) {
  const found = [
    ...new Map(violations(await sources("src")).map((v) => [`${v.from} -> ${v.to}`, v])).values(),
  ];
  const known = new Set(EDGES_TO_REMOVE);
  const seen = new Set<string>();
  let failed = false;
  for (const v of found) {
    const edge = `${v.from} -> ${v.to}`;
    seen.add(edge);
    if (known.has(edge)) continue;
    failed = true;
    console.error(`lint:layers: ${edge}: ${v.why}`);
  }
  for (const edge of known) {
    if (seen.has(edge)) continue;
    failed = true;
    console.error(`lint:layers: ${edge} is gone: take it off EDGES_TO_REMOVE`);
  }
  const left = [...known].filter((e) => seen.has(e)).length;
  console.log(
    `lint:layers: ${found.length - left} new upward or sideways imports; ${left} listed to remove`,
  );
  if (failed) Deno.exit(1);
}
