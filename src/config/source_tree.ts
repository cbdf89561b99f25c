import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ConfigError, type Where } from "./config_error.ts";

/**
 * A configuration document turned into plain values, with the position of every key and
 * value kept beside it, so validation can say `file:line:col: key.path: problem`.
 */
export class SourceTree {
  readonly #positions = new Map<string, { line: number; col: number }>();
  #root: unknown;

  constructor(readonly source: string, root: unknown = undefined) {
    this.#root = root;
  }

  get root(): unknown {
    return this.#root;
  }

  /** Parses YAML (JSON is YAML too) and records positions by key path. */
  static parse(source: string, text: string): SourceTree {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const pos = lineCounter.linePos(e.pos[0]);
      const msg = e.message.split("\n")[0].replace(/ at line \d+, column \d+.*$/, "");
      throw new ConfigError({ source, line: pos.line, col: pos.col, path: "" }, msg);
    }
    const tree = new SourceTree(source);
    tree.#root = tree.#convert(doc.contents as Node | null, "", lineCounter);
    return tree;
  }

  /** Values that did not come from a file (command-line URLs): no positions. */
  static fromValue(source: string, value: unknown): SourceTree {
    return new SourceTree(source, value);
  }

  where(path: string): Where {
    // Fall back to the nearest parent with a position (a missing key is reported at its map).
    let p = path;
    for (;;) {
      const pos = this.#positions.get(p);
      if (pos) return { source: this.source, line: pos.line, col: pos.col, path };
      if (p === "") return { source: this.source, path };
      p = parentPath(p);
    }
  }

  #convert(node: Node | null, path: string, lc: LineCounter): unknown {
    if (node === null || node === undefined) return null;
    if (node.range) this.#positions.set(path, lc.linePos(node.range[0]));
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        const childPath = path ? `${path}.${key}` : key;
        out[key] = this.#convert(pair.value as Node | null, childPath, lc);
        // The key's position wins over its value's: "unknown key" points at the key.
        if (keyNode?.range) this.#positions.set(childPath, lc.linePos(keyNode.range[0]));
      }
      return out;
    }
    if (isSeq(node)) {
      return node.items.map((item, i) => this.#convert(item as Node, `${path}[${i}]`, lc));
    }
    if (isScalar(node)) return node.value;
    return null;
  }
}

function parentPath(path: string): string {
  const m = /^(.*)(\[\d+\]|\.[^.[\]]+)$/.exec(path);
  return m ? m[1] : "";
}
