/**
 * The filter language (after mitmproxy's filter expressions): one expression selects records
 * in the UI's filter bar, the query API (`f=`), the live list and a recorder's `filter:`.
 *
 *   expr    := or
 *   or      := and ( "|" and )*
 *   and     := unary ( "&"? unary )*          adjacent terms are ANDed
 *   unary   := "!" unary | "(" expr ")" | term
 *   term    := "~" name [ value ]             `~c 404`, `~tls`
 *            | value                          free text
 *   value   := bare word | "double quoted" | 'single quoted'   (\ escapes in quotes)
 *
 * `!` binds tightest, then `&`, then `|`. Parse errors are `FilterSyntaxError`s whose message
 * starts with the 1-based column they point at: `column 4: expected a status code or class`.
 */

export type FilterNode =
  | { type: "and" | "or"; left: FilterNode; right: FilterNode }
  | { type: "not"; expr: FilterNode }
  | { type: "op"; op: string; value: string; column: number }
  | { type: "text"; value: string; column: number };

export class FilterSyntaxError extends RangeError {
  constructor(readonly column: number, readonly reason: string) {
    super(`column ${column}: ${reason}`);
  }
}

/** The longest expression taken, and the longest value (a regex included). */
export const MAX_FILTER_LENGTH = 4096;
export const MAX_VALUE_LENGTH = 512;
/** Deepest nesting of parentheses and `!`: the parser recurses once per level. */
const MAX_DEPTH = 64;

/** Operators that take a value, with what the value must be (checked at parse time). */
const VALUE_OPS: Record<string, { expects: string; check?: (v: string) => string | null }> = {
  h: { expects: "a host name" },
  d: { expects: "a domain" },
  m: {
    expects: "a method",
    check: (v) => /^[A-Za-z][A-Za-z0-9_-]*$/.test(v) ? null : "expected a method",
  },
  c: {
    expects: "a status code or class",
    check: (v) => /^(\d{3}|[1-5]xx)$/i.test(v) ? null : "expected a status code or class",
  },
  u: { expects: "a URL regex", check: (v) => regexProblem(v) },
  hq: { expects: "header text" },
  hs: { expects: "header text" },
  b: { expects: "body text" },
  bq: { expects: "body text" },
  bs: { expects: "body text" },
  t: { expects: "a content type" },
  ja3: {
    expects: "a JA3 hash",
    check: (v) => /^[0-9a-f]{32}$/i.test(v) ? null : "expected a JA3 hash (32 hex digits)",
  },
  ja4: {
    expects: "a JA4 fingerprint",
    check: (v) =>
      /^[0-9a-z_*]{1,64}$/i.test(v) ? null : "expected a JA4 fingerprint (letters, digits, _, *)",
  },
};

/** Operators without a value. */
const FLAG_OPS = new Set(["tls", "ws", "dns", "err", "http"]);

export const FILTER_OPERATORS = [...Object.keys(VALUE_OPS), ...FLAG_OPS];

/**
 * Why a `~u` pattern is refused, or null. Patterns run in JavaScript's backtracking engine on
 * hostile text, so besides compiling they must not nest quantifiers (`(a+)+`, `(a|aa)*`), the
 * shape behind catastrophic backtracking; back-references and lookarounds are refused too.
 */
export function regexProblem(source: string): string | null {
  try {
    new RegExp(source, "is");
  } catch (e) {
    return `not a regular expression: ${(e as Error).message.replace(/^.*?: /, "")}`;
  }
  if (/\\[1-9k]|\(\?<?[=!]/.test(source)) return "back-references and lookarounds are not allowed";
  // Each unbounded quantifier (`*`, `+`, `{n,}`) multiplies the backtracking a failed match
  // can do by the subject's length.
  const unbounded = source.replace(/\\./g, "").replace(/\[(?:\\.|[^\]])*\]/g, "")
    .match(/[*+]|\{\d+,\}/g)?.length ?? 0;
  if (unbounded > 2) return "more than two unbounded quantifiers (*, +, {n,})";
  // A group that holds a quantifier or an alternation, itself quantified.
  const stack: { quantified: boolean; alternation: boolean }[] = [];
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === "\\") {
      i++;
      continue;
    }
    if (ch === "[") {
      // skip the class
      for (i++; i < source.length && source[i] !== "]"; i++) if (source[i] === "\\") i++;
      continue;
    }
    if (ch === "(") stack.push({ quantified: false, alternation: false });
    else if (ch === ")") {
      const g = stack.pop();
      const next = source[i + 1];
      const isQuantified = next === "*" || next === "+" || next === "?" || next === "{";
      if (g && isQuantified && next !== "?" && (g.quantified || g.alternation)) {
        return "nested quantifiers (like (a+)+) are not allowed";
      }
      if (g && stack.length) {
        stack[stack.length - 1].quantified ||= g.quantified || isQuantified;
      }
    } else if ((ch === "*" || ch === "+" || ch === "{") && stack.length) {
      stack[stack.length - 1].quantified = true;
    } else if (ch === "|" && stack.length) stack[stack.length - 1].alternation = true;
  }
  return null;
}

interface Token {
  kind: "(" | ")" | "!" | "&" | "|" | "op" | "word";
  text: string;
  column: number;
  /** A quoted word: never an operator or a keyword. */
  quoted?: boolean;
}

const SPECIAL = new Set(["(", ")", "!", "&", "|"]);

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const column = i + 1;
    if (SPECIAL.has(ch)) {
      tokens.push({ kind: ch as Token["kind"], text: ch, column });
      i++;
    } else if (ch === '"' || ch === "'") {
      let text = "";
      i++;
      for (;;) {
        if (i >= src.length) throw new FilterSyntaxError(column, "unterminated quoted text");
        const c = src[i];
        if (c === "\\" && i + 1 < src.length) {
          text += src[i + 1];
          i += 2;
        } else if (c === ch) {
          i++;
          break;
        } else {
          text += c;
          i++;
        }
      }
      tokens.push({ kind: "word", text, column, quoted: true });
    } else {
      let j = i;
      // A bare word runs to white space, a parenthesis, `&` or `|` (a regex with those is
      // quoted); a `!` inside a word is part of it.
      while (j < src.length && !/\s/.test(src[j]) && !"()&|".includes(src[j])) j++;
      const text = src.slice(i, j);
      tokens.push({ kind: text.startsWith("~") ? "op" : "word", text, column });
      i = j;
    }
  }
  return tokens;
}

/** Parses an expression; throws `FilterSyntaxError` (a RangeError) pointing at the column. */
export function parseFilter(src: string): FilterNode {
  if (src.length > MAX_FILTER_LENGTH) {
    throw new FilterSyntaxError(
      MAX_FILTER_LENGTH + 1,
      `longer than ${MAX_FILTER_LENGTH} characters`,
    );
  }
  const tokens = tokenize(src);
  let pos = 0;
  const end = src.length + 1;
  const peek = () => tokens[pos];
  const where = () => peek()?.column ?? end;

  const parseOr = (depth: number): FilterNode => {
    let left = parseAnd(depth);
    while (peek()?.kind === "|") {
      pos++;
      left = { type: "or", left, right: parseAnd(depth) };
    }
    return left;
  };
  const parseAnd = (depth: number): FilterNode => {
    let left = parseUnary(depth);
    for (;;) {
      const t = peek();
      if (!t || t.kind === "|" || t.kind === ")") return left;
      if (t.kind === "&") pos++;
      left = { type: "and", left, right: parseUnary(depth) };
    }
  };
  const parseUnary = (depth: number): FilterNode => {
    if (depth > MAX_DEPTH) throw new FilterSyntaxError(where(), "nested too deeply");
    const t = peek();
    if (!t) throw new FilterSyntaxError(end, "expected a term");
    if (t.kind === "!") {
      pos++;
      return { type: "not", expr: parseUnary(depth + 1) };
    }
    if (t.kind === "(") {
      pos++;
      const inner = parseOr(depth + 1);
      if (peek()?.kind !== ")") throw new FilterSyntaxError(where(), "expected )");
      pos++;
      return inner;
    }
    if (t.kind === "op") {
      pos++;
      const name = t.text.slice(1).toLowerCase();
      if (FLAG_OPS.has(name)) return { type: "op", op: name, value: "", column: t.column };
      const spec = VALUE_OPS[name];
      if (!spec) throw new FilterSyntaxError(t.column, `unknown operator ${t.text}`);
      const v = peek();
      if (!v || v.kind !== "word") {
        throw new FilterSyntaxError(v?.column ?? end, `expected ${spec.expects} after ${t.text}`);
      }
      pos++;
      if (v.text.length > MAX_VALUE_LENGTH) {
        throw new FilterSyntaxError(v.column, `longer than ${MAX_VALUE_LENGTH} characters`);
      }
      if (v.text === "") throw new FilterSyntaxError(v.column, `expected ${spec.expects}`);
      const problem = spec.check?.(v.text);
      if (problem) throw new FilterSyntaxError(v.column, problem);
      return { type: "op", op: name, value: v.text, column: t.column };
    }
    if (t.kind === "word") {
      pos++;
      if (t.text.length > MAX_VALUE_LENGTH) {
        throw new FilterSyntaxError(t.column, `longer than ${MAX_VALUE_LENGTH} characters`);
      }
      return { type: "text", value: t.text, column: t.column };
    }
    throw new FilterSyntaxError(t.column, `unexpected ${t.text}`);
  };

  if (tokens.length === 0) throw new FilterSyntaxError(1, "empty expression");
  const node = parseOr(0);
  if (pos < tokens.length) {
    throw new FilterSyntaxError(tokens[pos].column, `unexpected ${tokens[pos].text}`);
  }
  return node;
}

/** The expression written back in a normal form (for logs and tests). */
export function formatFilter(n: FilterNode): string {
  const quote = (v: string) =>
    /^[^\s()"'!&|~][^\s()]*$/.test(v) ? v : `"${v.replace(/["\\]/g, "\\$&")}"`;
  switch (n.type) {
    case "and":
      return `(${formatFilter(n.left)} & ${formatFilter(n.right)})`;
    case "or":
      return `(${formatFilter(n.left)} | ${formatFilter(n.right)})`;
    case "not":
      return `!${formatFilter(n.expr)}`;
    case "op":
      return n.value ? `~${n.op} ${quote(n.value)}` : `~${n.op}`;
    case "text":
      return quote(n.value);
  }
}
