/**
 * The shape of a GOST handler record (`recorder.service.handler`, x/recorder/recorder.go), as
 * the collector checks what peers POST: every field GOST defines must have GOST's JSON type
 * when present; fields it does not define are kept as they are. A field GOST always writes may
 * still be missing (older GOSTs, other producers): the stores read a missing field as empty.
 *
 * The check exists because the stores and the Loki push read these fields as the types GOST
 * gives them: a header value that is not a list, or a byte count that is not a number, would
 * otherwise fail later, far from the peer that sent it.
 */

/** What a field holds. `bytes`: base64 text or null (Go's []byte). */
type Kind = "string" | "number" | "boolean" | "bytes" | "headers" | "labels";
interface Shape {
  [field: string]: Kind | Shape;
}

/** `request`, `response` and their HEAD-only `original*` copies. */
const HTTP_MESSAGE: Shape = { contentLength: "number", header: "headers", body: "bytes" };

const RECORD: Shape = {
  node: "string",
  service: "string",
  labels: "labels",
  network: "string",
  remote: "string",
  local: "string",
  client: "string",
  src: "string",
  dst: "string",
  host: "string",
  proto: "string",
  clientIP: "string",
  clientID: "string",
  http: {
    host: "string",
    method: "string",
    proto: "string",
    scheme: "string",
    uri: "string",
    cached: "boolean",
    statusCode: "number",
    request: HTTP_MESSAGE,
    response: HTTP_MESSAGE,
    originalHost: "string",
    originalUri: "string",
    originalRequest: HTTP_MESSAGE,
    originalResponse: HTTP_MESSAGE,
  },
  websocket: {
    from: "string",
    fin: "boolean",
    rsv1: "boolean",
    rsv2: "boolean",
    rsv3: "boolean",
    opcode: "number",
    masked: "boolean",
    maskKey: "number",
    length: "number",
    payload: "bytes",
  },
  tls: {
    serverName: "string",
    cipherSuite: "string",
    compressionMethod: "number",
    proto: "string",
    version: "string",
    clientHello: "string",
    serverHello: "string",
    ech: "boolean",
  },
  dns: {
    id: "number",
    name: "string",
    class: "string",
    type: "string",
    question: "string",
    answer: "string",
    cached: "boolean",
  },
  redis: { command: "string", key: "string" },
  route: "string",
  inputBytes: "number",
  outputBytes: "number",
  redirect: "string",
  err: "string",
  sid: "string",
  duration: "number",
  time: "string",
};

const EXPECTED: Record<Kind, string> = {
  string: "a string",
  number: "a number",
  boolean: "true or false",
  bytes: "base64 text or null",
  headers: "a map of lists of strings, or null",
  labels: "a map of strings",
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * A key as a path step: `.name` when it is a plain word, else `["quoted"]`, cut short (the
 * key came from the peer and goes back into an error message).
 */
function step(key: string): string {
  if (/^[A-Za-z0-9_-]{1,64}$/.test(key)) return `.${key}`;
  return `[${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)}]`;
}

/**
 * What is wrong with `v` as a `kind`, after the field's path (`: expected a string`, or
 * `.X: expected a list of strings` for a header), or null. The path is only built into an
 * answer once something is wrong: a good record, the usual one, costs no strings.
 */
function kindProblem(kind: Kind, v: unknown): string | null {
  switch (kind) {
    case "string":
      return typeof v === "string" ? null : `: expected ${EXPECTED.string}`;
    case "number":
      return typeof v === "number" && Number.isFinite(v) ? null : ": expected a number";
    case "boolean":
      return typeof v === "boolean" ? null : `: expected ${EXPECTED.boolean}`;
    case "bytes":
      return v === null || typeof v === "string" ? null : `: expected ${EXPECTED.bytes}`;
    case "headers": {
      if (v === null) return null;
      if (!isObject(v)) return `: expected ${EXPECTED.headers}`;
      for (const name in v) {
        if (!Object.hasOwn(v, name)) continue;
        const values = v[name];
        if (!Array.isArray(values)) return `${step(name)}: expected a list of strings`;
        for (let i = 0; i < values.length; i++) {
          if (typeof values[i] !== "string") return `${step(name)}: expected a list of strings`;
        }
      }
      return null;
    }
    case "labels": {
      if (!isObject(v)) return `: expected ${EXPECTED.labels}`;
      for (const name in v) {
        if (Object.hasOwn(v, name) && typeof v[name] !== "string") {
          return `${step(name)}: expected a string`;
        }
      }
      return null;
    }
  }
}

/** A shape's fields as a list, made once: each record walks it. */
type Fields = [field: string, kind: Kind | Fields][];
const fieldsOf = (shape: Shape): Fields =>
  Object.entries(shape).map(([f, k]) => [f, typeof k === "string" ? k : fieldsOf(k)]);
const RECORD_FIELDS = fieldsOf(RECORD);

/** The first bad field of `v` as `.a.b: expected …` (its path below `v`), or null. */
function fieldsProblem(fields: Fields, v: Record<string, unknown>): string | null {
  for (let i = 0; i < fields.length; i++) {
    const [field, kind] = fields[i];
    const value = v[field];
    if (value === undefined || !Object.hasOwn(v, field)) continue;
    const problem = typeof kind === "string"
      ? kindProblem(kind, value)
      : isObject(value)
      ? fieldsProblem(kind, value)
      : ": expected an object";
    if (problem !== null) return `.${field}${problem}`;
  }
  return null;
}

/**
 * Why `value` is not a GOST record — the first bad field's path under `path` and what it
 * should hold (`records[3].http.request.header.X: expected a list of strings`) — or null.
 */
export function recordProblem(value: unknown, path: string): string | null {
  if (!isObject(value)) return `${path}: expected a record (a JSON object)`;
  const problem = fieldsProblem(RECORD_FIELDS, value);
  return problem === null ? null : path + problem;
}
