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

function checkKind(kind: Kind, v: unknown, path: string): string | null {
  switch (kind) {
    case "string":
      return typeof v === "string" ? null : `${path}: expected ${EXPECTED.string}`;
    case "number":
      return typeof v === "number" && Number.isFinite(v) ? null : `${path}: expected a number`;
    case "boolean":
      return typeof v === "boolean" ? null : `${path}: expected ${EXPECTED.boolean}`;
    case "bytes":
      return v === null || typeof v === "string" ? null : `${path}: expected ${EXPECTED.bytes}`;
    case "headers": {
      if (v === null) return null;
      if (!isObject(v)) return `${path}: expected ${EXPECTED.headers}`;
      for (const [name, values] of Object.entries(v)) {
        if (!Array.isArray(values) || !values.every((x) => typeof x === "string")) {
          return `${path}${step(name)}: expected a list of strings`;
        }
      }
      return null;
    }
    case "labels": {
      if (!isObject(v)) return `${path}: expected ${EXPECTED.labels}`;
      for (const [name, value] of Object.entries(v)) {
        if (typeof value !== "string") return `${path}${step(name)}: expected a string`;
      }
      return null;
    }
  }
}

function checkShape(shape: Shape, v: Record<string, unknown>, path: string): string | null {
  for (const [field, kind] of Object.entries(shape)) {
    if (!Object.hasOwn(v, field) || v[field] === undefined) continue;
    const value = v[field], at = `${path}.${field}`;
    const problem = typeof kind === "string"
      ? checkKind(kind, value, at)
      : isObject(value)
      ? checkShape(kind, value, at)
      : `${at}: expected an object`;
    if (problem) return problem;
  }
  return null;
}

/**
 * Why `value` is not a GOST record — the first bad field's path under `path` and what it
 * should hold (`records[3].http.request.header.X: expected a list of strings`) — or null.
 */
export function recordProblem(value: unknown, path: string): string | null {
  if (!isObject(value)) return `${path}: expected a record (a JSON object)`;
  return checkShape(RECORD, value, path);
}
