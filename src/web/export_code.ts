import { REDACTED } from "../record/redaction.ts";
import { requestUrl } from "../store/har.ts";

/**
 * A recorded HTTP request as code to send it again: a curl or HTTPie command for a POSIX
 * shell, a `fetch` call, a Python script (standard library `http.client`), or the raw
 * HTTP/1.1 message.
 *
 * Everything in a record came from the network and is hostile: a header value or a target
 * may hold `'`, `$(…)`, backticks, `;`, line breaks or bytes that are not text. The shell
 * forms put every value in single quotes (`'` written `'\''`), where sh expands nothing;
 * bytes that are not printable ASCII or readable UTF-8 (control characters, invalid UTF-8,
 * bidirectional overrides that would make the command read differently from what it runs)
 * are written as `"$(printf '\ooo')"`, octal escapes the shell's own printf turns back into
 * the bytes. Bodies that are not plain text go through `base64 -d` on stdin
 * (`--data-binary @-`), so the command sends exactly the captured bytes.
 *
 * Values snoop redacted (`REDACTED`) are never exported as that word: each becomes a
 * variable the user must set (`${SNOOP_REDACTED_AUTHORIZATION}`), named in a comment line.
 *
 * Header values and targets are stored as the wire's bytes read as Latin-1 (one character
 * per byte), so `bytesOf` turns them back into those bytes.
 */

// deno-lint-ignore no-explicit-any
type Json = any;

export const EXPORT_FORMATS = ["curl", "fetch", "httpie", "python", "raw"] as const;
export type ExportFormat = typeof EXPORT_FORMATS[number];

/** A piece of a value: text as recorded, or a variable standing for a redacted value. */
type Part = string | { variable: string };

interface ExportRequest {
  method: string;
  scheme: string;
  authority: string;
  /** The request-target as the origin receives it (origin form). */
  target: Part[];
  headers: [string, Part[]][];
  body: Uint8Array | null;
  proto: string;
  /** Variables to set, with what they stand for. */
  variables: { name: string; what: string }[];
  /** Lines for the comment at the top: what was left out, what was cut. */
  notes: string[];
}

/** Fields a client does not send end to end, or that the tool writes itself. */
const NOT_EXPORTED = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
  "content-length",
  "host",
]);

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The bytes a recorded string stands for: Latin-1 when every character fits, else UTF-8. */
export function bytesOf(s: string): Uint8Array<ArrayBuffer> {
  let latin1 = true;
  for (let i = 0; i < s.length && latin1; i++) latin1 = s.charCodeAt(i) <= 0xff;
  if (!latin1) return new TextEncoder().encode(s);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Control, format (bidi overrides, zero-width) and line/paragraph separator characters. */
const UNREADABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * `bytes` as text when they are valid UTF-8 with nothing a reader could misread: no control
 * characters but `allowNewline`'s line feed, no format characters. Null otherwise.
 */
function readable(bytes: Uint8Array, allowNewline: boolean): string | null {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
  const check = allowNewline ? text.replaceAll("\n", "") : text;
  return UNREADABLE.test(check) ? null : text;
}

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

function fromBase64(b64: string): Uint8Array {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** A variable name from a header or parameter name: upper-case letters, digits, `_`. */
function variableName(prefix: string, name: string, taken: Set<string>): string {
  const base = `${prefix}${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`.slice(0, 64);
  let v = base;
  for (let i = 2; taken.has(v); i++) v = `${base}_${i}`;
  taken.add(v);
  return v;
}

/** The request-target: the recorded URI's path and query (an absolute URI loses its origin). */
function originForm(uri: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/is.exec(uri);
  const t = m ? m[1] : uri;
  return t === "" ? "/" : t;
}

/** A target with each `name=REDACTED` query value replaced by a variable. */
function targetParts(target: string, taken: Set<string>, vars: ExportRequest["variables"]) {
  const parts: Part[] = [];
  const re = /([?&])([^=&#]*)=REDACTED(?=[&#]|$)/g;
  let last = 0;
  for (let m; (m = re.exec(target));) {
    const cut = m.index + m[0].length - REDACTED.length;
    parts.push(target.slice(last, cut));
    let name = m[2];
    try {
      name = decodeURIComponent(name.replace(/\+/g, " "));
    } catch { /* the raw name */ }
    const variable = variableName("SNOOP_REDACTED_QUERY_", name, taken);
    vars.push({ name: variable, what: `the query parameter ${TOKEN.test(name) ? name : "?"}` });
    parts.push({ variable });
    last = cut + REDACTED.length;
  }
  parts.push(target.slice(last));
  return parts.filter((p) => p !== "");
}

/** What a record's request holds, in the shape every format renders; null if not HTTP. */
export function exportRequest(r: Json): ExportRequest | null {
  const http = r?.http;
  if (!http || typeof http.method !== "string" || http.method === "CONNECT" || r.websocket) {
    return null;
  }
  const taken = new Set<string>();
  const variables: ExportRequest["variables"] = [];
  const notes: string[] = [];
  const url = requestUrl(r);
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(url);
  const scheme = (m?.[1] ?? "http").toLowerCase() === "https" ? "https" : "http";
  const authority = String(http.host || m?.[2] || r.host || "");
  const headers: [string, Part[]][] = [];
  let dropped = 0;
  for (const [name, values] of Object.entries(http.request?.header ?? {})) {
    if (!TOKEN.test(name)) {
      dropped++;
      continue;
    }
    if (NOT_EXPORTED.has(name.toLowerCase())) continue;
    for (const value of Array.isArray(values) ? values.map(String) : []) {
      if (/[\r\n\0]/.test(value)) {
        notes.push(`The header ${name} was left out: its value holds a line break or NUL.`);
        continue;
      }
      if (value === REDACTED) {
        const variable = variableName("SNOOP_REDACTED_", name, taken);
        variables.push({ name: variable, what: `the ${name} header` });
        headers.push([name, [{ variable }]]);
      } else {
        headers.push([name, [value]]);
      }
    }
  }
  if (dropped) notes.push(`${dropped} header(s) with an invalid name were left out.`);
  const req = http.request ?? {};
  let body: Uint8Array | null = null;
  if (typeof req.body === "string" && req.body) {
    try {
      body = fromBase64(req.body);
    } catch {
      notes.push("The captured body is not base64: it was left out.");
    }
  }
  const size = Number(req.contentLength) || 0;
  if (body && body.length < size) {
    notes.push(`The body was cut at capture: ${body.length} of ${size} bytes are sent.`);
  } else if (!body && size > 0) {
    notes.push(`The body (${size} bytes) was not captured: none is sent.`);
  }
  return {
    method: String(http.method),
    scheme,
    authority,
    target: targetParts(originForm(String(http.uri ?? "/")), taken, variables),
    headers,
    body,
    proto: String(http.proto ?? "HTTP/1.1"),
    variables,
    notes,
  };
}

// ---- POSIX sh ----

/** Bytes as sh words joined without space: quoted text, `"$(printf '\ooo')"` for the rest. */
function shBytes(bytes: Uint8Array): string {
  const text = readable(bytes, true);
  if (text !== null) return `'${text.replaceAll("'", `'\\''`)}'`;
  let out = "", run = "", esc = "";
  const flushRun = () => {
    if (run) out += `'${run.replaceAll("'", `'\\''`)}'`;
    run = "";
  };
  const flushEsc = () => {
    if (esc) out += `"$(printf '${esc}')"`;
    esc = "";
  };
  for (const b of bytes) {
    // A line feed stays in quotes: command substitution would drop a trailing one.
    if ((b >= 0x20 && b < 0x7f) || b === 0x0a) {
      flushEsc();
      run += String.fromCharCode(b);
    } else {
      flushRun();
      esc += `\\${b.toString(8).padStart(3, "0")}`;
    }
  }
  flushRun();
  flushEsc();
  return out;
}

/** Adjacent text parts joined, empty ones dropped. */
function merged(parts: Part[]): Part[] {
  const out: Part[] = [];
  for (const p of parts) {
    if (p === "") continue;
    const last = out.length - 1;
    if (typeof p === "string" && typeof out[last] === "string") out[last] += p;
    else out.push(p);
  }
  return out;
}

/** One sh word from parts: variables as `"${NAME:?}"` (sh stops if it is unset). */
function sh(parts: Part[]): string {
  const out = merged(parts).map((p) =>
    typeof p === "string" ? shBytes(bytesOf(p)) : `"\${${p.variable}:?}"`
  ).join("");
  return out || "''";
}

function commentLines(prefix: string, req: ExportRequest, firstLine: string): string[] {
  const lines = [`${prefix} ${firstLine}`];
  for (const n of req.notes) lines.push(`${prefix} ${n}`);
  if (req.variables.length) {
    lines.push(`${prefix} snoop redacted some values; set these before running:`);
    for (const v of req.variables) lines.push(`${prefix}   ${v.name}: ${v.what}`);
  }
  return lines;
}

/** Whether every byte of `parts`' text is printable ASCII other than space and `#`. */
function plainTarget(parts: Part[]): boolean {
  return parts.every((p) => typeof p !== "string" || /^[!-"$-~]*$/.test(p));
}

function hasHeader(req: ExportRequest, name: string): boolean {
  return req.headers.some(([n]) => n.toLowerCase() === name);
}

function curlCommand(req: ExportRequest): string {
  const lines = commentLines("#", req, "curl command generated by snoop from a recorded request.");
  const version = req.proto.startsWith("HTTP/2")
    ? "--http2"
    : req.proto === "HTTP/1.0"
    ? "--http1.0"
    : "--http1.1";
  // -g: no [] {} globbing; --path-as-is: no dot-segment squashing.
  const args: string[] = [`curl ${version} -g --path-as-is`];
  if (req.method === "HEAD") args.push("-I");
  else if (req.method !== "GET" || req.body) args.push(`-X ${sh([req.method])}`);
  const base = `${req.scheme}://`;
  if (plainTarget(req.target)) {
    args.push(sh([base, req.authority, ...req.target]));
  } else {
    // curl would reject or re-encode such a target in a URL: it is sent as recorded.
    args.push(sh([base, req.authority, "/"]), `--request-target ${sh(req.target)}`);
  }
  for (const [name, value] of req.headers) {
    // `Name;` sends an empty value; `Name:` would remove the header.
    args.push(`-H ${merged(value).length ? sh([`${name}: `, ...value]) : sh([`${name};`])}`);
  }
  // curl's own headers, left out where the recorded request had none.
  for (const [lower, name] of [["user-agent", "User-Agent"], ["accept", "Accept"]]) {
    if (!hasHeader(req, lower)) args.push(`-H ${sh([`${name}:`])}`);
  }
  let stdin = "";
  if (req.body) {
    if (!hasHeader(req, "content-type")) args.push(`-H ${sh(["Content-Type:"])}`);
    if (!hasHeader(req, "expect")) args.push(`-H ${sh(["Expect:"])}`);
    const text = readable(req.body, true);
    if (text !== null && !/[\r\t]/.test(text)) {
      // --data-raw sends the text as it is (no @file, no newline stripping).
      args.push(`--data-raw ${shBytes(req.body)}`);
    } else {
      stdin = `printf '%s' '${wrap(base64(req.body))}' | base64 -d | `;
      args.push("--data-binary @-");
    }
  }
  return `${lines.join("\n")}\n${stdin}${args.join(" \\\n  ")}\n`;
}

/** Base64 broken into lines (base64 -d skips the line feeds). */
function wrap(b64: string): string {
  return b64.replace(/.{76}(?=.)/g, "$&\n");
}

function httpieCommand(req: ExportRequest): string {
  const lines = commentLines(
    "#",
    req,
    "HTTPie command generated by snoop from a recorded request.",
  );
  // With a body, HTTPie reads it from stdin; without, it must not wait for one.
  const args: string[] = [req.body ? "http" : "http --ignore-stdin"];
  const stdin = req.body ? `printf '%s' '${wrap(base64(req.body))}' | base64 -d | ` : "";
  if (req.proto === "HTTP/1.0") lines.push("# The original was HTTP/1.0; HTTPie sends HTTP/1.1.");
  args.push(`${sh([req.method])} ${sh([`${req.scheme}://`, req.authority, ...req.target])}`);
  // HTTPie reads `\` before a separator as an escape: doubled, every value stays as it is.
  // A value starting with `=` or `@` would read as `:=` (JSON) or a file: escaped too.
  const escape = (p: Part, i: number): Part =>
    typeof p !== "string"
      ? p
      : (i === 0 && /^[=@]/.test(p) ? "\\" : "") + p.replaceAll("\\", "\\\\");
  for (const [name, value] of req.headers) {
    // `Name;` is HTTPie's empty value; `Name:` alone would remove the header.
    const v = merged(value);
    args.push(v.length ? sh([`${name}:`, ...v.map(escape)]) : sh([`${name};`]));
  }
  for (const [lower, name] of [["user-agent", "User-Agent"], ["accept", "Accept"]]) {
    if (!hasHeader(req, lower)) args.push(sh([`${name}:`]));
  }
  if (!hasHeader(req, "accept-encoding")) args.push(sh(["Accept-Encoding:"]));
  return `${lines.join("\n")}\n${stdin}${args.join(" \\\n  ")}\n`;
}

// ---- JavaScript ----

/** A JS string literal of ASCII only (\u escapes for the rest). */
function jsString(s: string): string {
  return JSON.stringify(s).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * A JS expression for parts and variables. Header values must be ByteStrings (one character
 * per byte): text with wider characters is given as its UTF-8 bytes, one character each.
 */
function js(parts: Part[], byteString = false): string {
  const out = merged(parts).map((p) =>
    typeof p !== "string"
      ? p.variable
      : jsString(byteString ? String.fromCharCode(...bytesOf(p)) : p)
  );
  return out.length ? out.join(" + ") : '""';
}

function fetchCode(req: ExportRequest): string {
  const lines = commentLines("//", req, "fetch call generated by snoop from a recorded request.");
  lines.push(
    "// fetch re-encodes the URL and adds headers of its own (Accept, User-Agent...).",
  );
  for (const v of req.variables) {
    lines.push(`const ${v.name} = ""; // fill in: snoop redacted ${jsString(v.what)}`);
    lines.push(`if (!${v.name}) throw new Error("set ${v.name} first");`);
  }
  const url = js([`${req.scheme}://`, req.authority, ...req.target]);
  const init: string[] = [`  method: ${jsString(req.method)},`, "  headers: ["];
  for (const [name, value] of req.headers) {
    init.push(`    [${jsString(name)}, ${js(value, true)}],`);
  }
  init.push("  ],");
  if (req.body) {
    const text = readable(req.body, true);
    init.push(
      text !== null
        ? `  body: new TextEncoder().encode(${jsString(text)}),`
        : `  body: Uint8Array.from(atob(${jsString(base64(req.body))}), (c) => c.charCodeAt(0)),`,
    );
  }
  lines.push(
    `const res = await fetch(${url}, {`,
    ...init,
    "});",
    "console.log(res.status, res.statusText);",
    "console.log(await res.text());",
  );
  return lines.join("\n") + "\n";
}

// ---- Python ----

/** A Python bytes literal: printable ASCII as is, the rest as \x escapes. */
function pyBytes(bytes: Uint8Array): string {
  let s = 'b"';
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return `${s}"`;
}

function py(parts: Part[]): string {
  const out = merged(parts).map((p) =>
    typeof p === "string" ? pyBytes(bytesOf(p)) : `${p.variable}.encode("latin-1")`
  );
  return out.length ? out.join(" + ") : 'b""';
}

/** A target http.client accepts: bytes outside printable ASCII percent-encoded. */
function pyTarget(parts: Part[]): string {
  const out = merged(parts).map((p) => {
    if (typeof p !== "string") return `${p.variable}`;
    let s = "";
    for (const b of bytesOf(p)) {
      s += b > 0x20 && b < 0x7f
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    }
    return jsString(s);
  });
  return out.length ? out.join(" + ") : '"/"';
}

function pythonCode(req: ExportRequest): string {
  const lines = commentLines(
    "#",
    req,
    "Python (standard library http.client) generated by snoop from a recorded request.",
  );
  if (!plainTarget(req.target)) {
    lines.push("# Bytes of the target that http.client refuses are sent percent-encoded.");
  }
  if (req.proto.startsWith("HTTP/2")) lines.push("# The original was HTTP/2; this sends HTTP/1.1.");
  lines.push("import http.client", "import os", "import ssl");
  for (const v of req.variables) {
    lines.push(`${v.name} = os.environ["${v.name}"]  # snoop redacted ${jsString(v.what)}`);
  }
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(req.authority);
  const host = (hp?.[1] ?? req.authority).replace(/^\[(.*)\]$/, "$1");
  const port = Number(hp?.[2]) || (req.scheme === "https" ? 443 : 80);
  lines.push(
    req.scheme === "https"
      ? `conn = http.client.HTTPSConnection(${
        jsString(host)
      }, ${port}, context=ssl.create_default_context(), timeout=30)`
      : `conn = http.client.HTTPConnection(${jsString(host)}, ${port}, timeout=30)`,
    // skip_host/skip_accept_encoding: only the recorded headers are sent.
    `conn.putrequest(${jsString(req.method)}, ${
      pyTarget(req.target)
    }, skip_host=True, skip_accept_encoding=True)`,
    `conn.putheader("Host", ${py([req.authority])})`,
  );
  for (const [name, value] of req.headers) {
    lines.push(`conn.putheader(${jsString(name)}, ${py(value)})`);
  }
  if (req.body) {
    lines.push(`body = ${pyBytes(req.body)}`, `conn.putheader("Content-Length", str(len(body)))`);
    lines.push("conn.endheaders(body)");
  } else {
    lines.push("conn.endheaders()");
  }
  lines.push(
    "res = conn.getresponse()",
    "print(res.status, res.reason)",
    'print(res.read().decode("utf-8", "replace"))',
  );
  return lines.join("\n") + "\n";
}

// ---- raw ----

function rawMessage(req: ExportRequest): Uint8Array<ArrayBuffer> {
  const text = (parts: Part[]) =>
    parts.map((p) => typeof p === "string" ? p : `\${${p.variable}}`).join("");
  const head = [`${req.method} ${text(req.target)} HTTP/1.1`, `Host: ${req.authority}`];
  for (const [name, value] of req.headers) head.push(`${name}: ${text(value)}`);
  if (req.body) head.push(`Content-Length: ${req.body.length}`);
  const headBytes = bytesOf(head.join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(headBytes.length + (req.body?.length ?? 0));
  out.set(headBytes);
  if (req.body) out.set(req.body, headBytes.length);
  return out;
}

/**
 * The response of `GET /api/records/ID/as/FORMAT`: the code as text (the raw message as its
 * bytes), or 400 when the record is not an HTTP request.
 */
export function exportResponse(record: Json | null, format: ExportFormat): Response {
  const json = (body: unknown, status: number) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  if (!record) return json({ error: "no such record" }, 404);
  const req = exportRequest(record);
  if (!req) return json({ error: "not an HTTP request record" }, 400);
  const headers: Record<string, string> = { "cache-control": "no-store" };
  if (req.variables.length) {
    headers["x-snoop-redacted"] = req.variables.map((v) => v.name).join(", ");
  }
  if (format === "raw") {
    return new Response(rawMessage(req), {
      headers: { ...headers, "content-type": "text/plain; charset=iso-8859-1" },
    });
  }
  const code = format === "curl"
    ? curlCommand(req)
    : format === "httpie"
    ? httpieCommand(req)
    : format === "fetch"
    ? fetchCode(req)
    : pythonCode(req);
  return new Response(code, {
    headers: { ...headers, "content-type": "text/plain; charset=utf-8" },
  });
}
