/**
 * `deno task lint:layers`: dependencies between `src/` folders point one way, down.
 *
 * Each folder of `src/` has a rank in LAYERS (top first). A module may import from its own
 * folder and from folders ranked below it; an import of a folder ranked above, or of a
 * folder on the same rank (a sideways import), fails the check, as does a folder with no
 * rank or a module at `src/` root (every module belongs to a layer). Imports are read from
 * the source text: static `import` and `export … from`, and `import("…")` with a literal
 * specifier.
 *
 * A type two layers share goes to the lower one (as `sniff/sniffer.ts`'s SniffContext,
 * which the tunnel layer implements); an import that needs to point up is a sign of that.
 */

/** Top first. Folders on one line share a rank and may not import each other. */
export const LAYERS: string[][] = [
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
      const why = a === "(root)"
        ? "a module at src/ root has no layer: put it in the folder of its layer"
        : `folder src/${a} has no layer in scripts/lint_layers.ts`;
      out.push({ from, to: from, why });
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
  const found = violations(await sources("src"));
  for (const v of found) {
    console.error(`lint:layers: ${v.from}${v.to === v.from ? "" : ` -> ${v.to}`}: ${v.why}`);
  }
  if (found.length > 0) Deno.exit(1);
  console.log(`lint:layers: every import points down (${LAYERS.length} layers)`);
}
