import { ConfigError, type Where } from "./config_error.ts";
import { readChain, resolveChains } from "./chain_config.ts";
import { MapReader } from "./map_reader.ts";
import { Metadata, parseGoDuration } from "./metadata.ts";
import { SourceTree } from "./source_tree.ts";
import {
  type BypassConfig,
  type Config,
  RECORD_TYPES,
  type RecorderConfig,
  type RecordType,
  type ServiceConfig,
} from "./types.ts";

/**
 * Turns configuration documents (`-C` files) into the typed `Config`. Each document is
 * validated on its own, so errors carry its file and line; `mergeConfigs` then joins them
 * with the `-L` services and checks names across all of them.
 */

const TOP_KEYS = ["services", "recorders", "bypasses", "log", "ui", "limits", "chains"];
const TOP_UNSUPPORTED = [
  "hops",
  "authers",
  "admissions",
  "resolvers",
  "hosts",
  "ingresses",
  "routers",
  "sds",
  "limiters",
  "climiters",
  "rlimiters",
  "observers",
  "loggers",
  "tls",
  "profiling",
  "api",
  "metrics",
  "plugins",
];
const SERVICE_KEYS = [
  "name",
  "addr",
  "handler",
  "listener",
  "forwarder",
  "recorders",
  "bypass",
  "metadata",
];
const SERVICE_UNSUPPORTED = [
  "bypasses",
  "admission",
  "admissions",
  "limiter",
  "climiter",
  "rlimiter",
  "interface",
  "sockopts",
  "resolver",
  "hosts",
  "logger",
  "loggers",
  "observer",
  "status",
];
const HANDLER_KEYS = ["type", "auth", "metadata", "chain"];
const HANDLER_UNSUPPORTED = [
  "auther",
  "authers",
  "chainGroup",
  "retries",
  "limiter",
  "observer",
  "tls",
];
const LISTENER_KEYS = ["type", "metadata"];
const LISTENER_UNSUPPORTED = ["auth", "auther", "authers", "chain", "chainGroup", "tls"];

/** Parses one document (YAML or JSON) from text. */
export function parseConfigText(source: string, text: string): Config {
  const tree = SourceTree.parse(source, text);
  if (tree.root === null || tree.root === undefined) {
    return { services: [], recorders: [], bypasses: [], log: {} };
  }
  return readDocument(tree);
}

/** Reads and parses a configuration file. */
export async function loadConfigFile(path: string): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound ? "file not found" : String(e);
    throw new ConfigError({ source: path, path: "" }, `cannot read configuration: ${reason}`);
  }
  return parseConfigText(path, text);
}

/** Reads a document that is already plain values (used for `-L` services). */
export function readDocument(tree: SourceTree): Config {
  const top = MapReader.open(tree, "", tree.root, TOP_KEYS, TOP_UNSUPPORTED);
  const config: Config = { services: [], recorders: [], bypasses: [], log: {} };
  for (const item of top.list("services")) config.services.push(readService(tree, item));
  for (const item of top.list("recorders")) config.recorders.push(readRecorder(tree, item));
  for (const item of top.list("bypasses")) config.bypasses.push(readBypass(tree, item));
  if (top.has("chains")) config.chains = top.list("chains").map((item) => readChain(tree, item));
  if (top.has("log")) {
    const log = top.map("log", ["level", "format", "output"]);
    const level = log.string("level");
    if (level) {
      if (!["trace", "debug", "info", "warn", "error"].includes(level)) {
        throw new ConfigError(
          log.whereOf("level"),
          `expected one of trace, debug, info, warn, error, got "${level}"`,
        );
      }
      config.log.level = level as Config["log"]["level"];
    }
    const format = log.string("format");
    if (format && format !== "text") {
      throw new ConfigError(log.whereOf("format"), `log format "${format}" is not supported`);
    }
    const output = log.string("output");
    if (output && output !== "stderr") {
      throw new ConfigError(log.whereOf("output"), `log output "${output}" is not supported`);
    }
  }
  if (top.has("limits")) {
    const limits = top.map("limits", ["captureBudget"]);
    config.limits = {
      captureBudget: readSize(limits, "captureBudget", 64 * MiB, 0, 16 * 1024 * MiB),
      where: limits.where,
    };
  }
  if (top.has("ui")) {
    const ui = top.map("ui", ["addr", "store", "token", "caFile", "hosts", "maxDecodedBody"]);
    config.ui = {
      addr: ui.string("addr", { fallback: "127.0.0.1:8081" }),
      store: ui.string("store", { required: true }),
      token: ui.string("token"),
      caFile: ui.string("caFile"),
      maxDecodedBody: readSize(ui, "maxDecodedBody", 16 * MiB, 1, 1024 * MiB),
      hosts: ui.list("hosts").map(({ value, path }) => {
        // What a browser sends as Host: a name or address, with a port or not.
        const host = typeof value === "string" ? value.trim().toLowerCase() : "";
        if (!/^(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?)(:\d{1,5})?$/.test(host)) {
          throw new ConfigError(
            tree.where(path),
            "expected a host name or address as the browser sends it in Host " +
              "(snoop.example.com, 10.0.0.5:8081, [fd00::5]), without a scheme or path",
          );
        }
        return host;
      }),
      where: ui.where,
    };
  }
  return config;
}

function readService(tree: SourceTree, item: { value: unknown; path: string }): ServiceConfig {
  const s = MapReader.open(tree, item.path, item.value, SERVICE_KEYS, SERVICE_UNSUPPORTED);
  const name = s.string("name", { required: true });
  const addr = s.string("addr", { required: true });
  const handler = s.map("handler", HANDLER_KEYS, HANDLER_UNSUPPORTED);
  const handlerType = handler.string("type", { required: true });
  let auth: ServiceConfig["handler"]["auth"];
  if (handler.has("auth")) {
    const a = handler.map("auth", ["username", "password"]);
    auth = { username: a.string("username"), password: a.string("password") };
  }
  const listener = s.has("listener")
    ? s.map("listener", LISTENER_KEYS, LISTENER_UNSUPPORTED)
    : undefined;
  const service: ServiceConfig = {
    name,
    addr,
    handler: {
      type: handlerType,
      auth,
      metadata: handler.metadata("metadata"),
      where: handler.where,
      typeWhere: handler.whereOf("type"),
      chain: handler.has("chain")
        ? { name: handler.string("chain"), where: handler.whereOf("chain") }
        : undefined,
    },
    listener: {
      type: listener?.string("type", { fallback: "tcp" }) || "tcp",
      metadata: listener ? listener.metadata("metadata") : new Metadata(s.where),
      where: listener?.where ?? s.where,
      typeWhere: listener?.whereOf("type") ?? s.where,
    },
    forwarder: { nodes: [] },
    recorders: [],
    metadata: s.metadata("metadata"),
    where: s.where,
  };
  if (s.has("forwarder")) {
    const f = s.map("forwarder", ["nodes", "name"], ["selector", "hop"]);
    for (const n of f.list("nodes")) {
      const node = MapReader.open(tree, n.path, n.value, ["name", "addr"], [
        "bypass",
        "bypasses",
        "filter",
        "matcher",
        "http",
        "tls",
        "auth",
        "metadata",
        "network",
        "protocol",
        "host",
        "path",
      ]);
      service.forwarder.nodes.push({
        name: node.string("name"),
        addr: node.string("addr", { required: true }),
        where: node.where,
      });
    }
  }
  for (const r of s.list("recorders")) {
    const ref = MapReader.open(tree, r.path, r.value, ["name", "record", "metadata"]);
    const record = ref.string("record", { fallback: "recorder.service.handler" });
    if (!RECORD_TYPES.includes(record as RecordType)) {
      throw new ConfigError(
        ref.whereOf("record"),
        `unknown record "${record}"; expected one of ${RECORD_TYPES.join(", ")}`,
      );
    }
    service.recorders.push({
      name: ref.string("name", { required: true }),
      record: record as RecordType,
      metadata: ref.metadata("metadata"),
      where: ref.where,
    });
  }
  if (s.has("bypass")) {
    service.bypass = { name: s.string("bypass"), where: s.whereOf("bypass") };
  }
  return service;
}

const RECORDER_KINDS = ["http", "file", "tcp", "redis", "store"] as const;
/** The most records an `http` recorder may put in one POST (`batch`). */
const MAX_HTTP_BATCH = 10_000;

function readRecorder(tree: SourceTree, item: { value: unknown; path: string }): RecorderConfig {
  const r = MapReader.open(
    tree,
    item.path,
    item.value,
    ["name", "queueSize", "filter", ...RECORDER_KINDS],
    ["plugin"],
  );
  const name = r.string("name", { required: true });
  const queueSize = r.number("queueSize", 10_000);
  if (!Number.isInteger(queueSize) || queueSize < 1) {
    throw new ConfigError(r.whereOf("queueSize"), "expected a whole number of records ≥ 1");
  }
  const kinds = RECORDER_KINDS.filter((k) => r.has(k));
  if (kinds.length !== 1) {
    throw new ConfigError(
      r.where,
      kinds.length === 0
        ? `recorder "${name}" needs one of ${RECORDER_KINDS.join(", ")}`
        : `recorder "${name}" has ${kinds.join(" and ")}: give exactly one kind`,
    );
  }
  const filter = r.has("filter")
    ? { expr: r.string("filter", { required: true }), where: r.whereOf("filter") }
    : undefined;
  if (filter && !filter.expr.trim()) {
    throw new ConfigError(filter.where, "expected a filter expression, got an empty string");
  }
  const base = { name, queueSize, where: r.where, ...(filter ? { filter } : {}) };
  switch (kinds[0]) {
    case "http": {
      const h = r.map("http", ["url", "timeout", "header", "batch"]);
      let url = h.string("url", { required: true });
      if (!/^https?:\/\//i.test(url)) url = `http://${url}`;
      try {
        new URL(url);
      } catch {
        throw new ConfigError(h.whereOf("url"), `invalid URL "${url}"`);
      }
      const batch = h.number("batch", 0);
      if (!Number.isInteger(batch) || batch < 0 || batch > MAX_HTTP_BATCH) {
        throw new ConfigError(
          h.whereOf("batch"),
          `expected a whole number of records per POST, 0 (one record per POST) to ${MAX_HTTP_BATCH}`,
        );
      }
      return {
        ...base,
        kind: "http",
        http: {
          url,
          timeoutMs: readDuration(h, "timeout", 5000),
          header: h.stringMap("header"),
          batch,
        },
      };
    }
    case "file": {
      const f = r.map("file", ["path", "sep", "rotation"]);
      const file: Extract<RecorderConfig, { kind: "file" }>["file"] = {
        path: f.string("path", { required: true }),
        sep: f.string("sep"),
      };
      if (f.has("rotation")) {
        const rot = f.map("rotation", ["maxSize", "maxBackups", "localTime"], [
          "maxAge",
          "compress",
        ]);
        rot.bool("localTime", false);
        file.rotation = {
          maxSizeMB: rot.number("maxSize", 100),
          maxBackups: rot.number("maxBackups", 0),
        };
      }
      return { ...base, kind: "file", file };
    }
    case "tcp": {
      const t = r.map("tcp", ["addr", "timeout"]);
      return {
        ...base,
        kind: "tcp",
        tcp: {
          addr: t.string("addr", { required: true }),
          timeoutMs: readDuration(t, "timeout", 5000),
        },
      };
    }
    case "store": {
      const st = r.map("store", ["path", "retention", "indexBodies"]);
      let maxAgeMs = 0, maxRecords = 0;
      if (st.has("retention")) {
        const ret = st.map("retention", ["maxAge", "maxRecords"]);
        maxAgeMs = readDuration(ret, "maxAge", 0);
        maxRecords = ret.number("maxRecords", 0);
        if (!Number.isInteger(maxRecords) || maxRecords < 0) {
          throw new ConfigError(ret.whereOf("maxRecords"), "expected a whole number ≥ 0");
        }
      }
      return {
        ...base,
        kind: "store",
        store: {
          path: st.string("path", { required: true }),
          maxAgeMs,
          maxRecords,
          indexBodies: st.bool("indexBodies", true),
        },
      };
    }
    case "redis": {
      const x = r.map("redis", ["addr", "db", "username", "password", "key", "type"]);
      const type = x.string("type", { fallback: "set" });
      if (!["set", "list", "sset"].includes(type)) {
        throw new ConfigError(x.whereOf("type"), `expected set, list or sset, got "${type}"`);
      }
      return {
        ...base,
        kind: "redis",
        redis: {
          addr: x.string("addr", { required: true }),
          db: x.number("db", 0),
          username: x.string("username"),
          password: x.string("password"),
          key: x.string("key", { required: true }),
          type: type as "set" | "list" | "sset",
        },
      };
    }
  }
}

function readDuration(m: MapReader, key: string, fallbackMs: number): number {
  const v = m.raw(key);
  if (v === undefined || v === null) return fallbackMs;
  if (typeof v === "number" && v >= 0) return v * 1000;
  if (typeof v === "string") {
    const ms = /^\d+$/.test(v) ? Number(v) * 1000 : parseGoDuration(v);
    if (ms !== null) return ms;
  }
  throw new ConfigError(
    m.whereOf(key),
    `expected a duration such as "1s", got ${JSON.stringify(v)}`,
  );
}

const MiB = 1024 * 1024;
const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB, GiB: 1024 * MiB };

/** A size in bytes: a whole number, or a string with a binary unit ("64MiB", "512 KiB"). */
function readSize(m: MapReader, key: string, fallback: number, min: number, max: number): number {
  const v = m.raw(key);
  if (v === undefined || v === null) return fallback;
  let parsed = typeof v === "number" ? v : NaN;
  const text = typeof v === "string" ? /^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$/.exec(v) : null;
  if (text) parsed = Number(text[1]) * SIZE_UNITS[text[2] ?? "B"];
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(
      m.whereOf(key),
      `expected a size from ${min} bytes to ${max / MiB} MiB, as bytes or with a unit ` +
        `(B, KiB, MiB, GiB) such as "64MiB", got ${JSON.stringify(v)}`,
    );
  }
  return parsed;
}

function readBypass(tree: SourceTree, item: { value: unknown; path: string }): BypassConfig {
  const b = MapReader.open(tree, item.path, item.value, [
    "name",
    "whitelist",
    "reverse",
    "matchers",
  ], [
    "file",
    "redis",
    "http",
    "reload",
    "plugin",
    "network",
  ]);
  const matchers = b.list("matchers").map(({ value, path }) => {
    if (typeof value !== "string" && typeof value !== "number") {
      throw new ConfigError(tree.where(path), "expected a host, address, IP range or CIDR");
    }
    return String(value);
  });
  return {
    name: b.string("name", { required: true }),
    whitelist: b.bool("whitelist", false) || b.bool("reverse", false),
    matchers,
    where: b.where,
  };
}

/** Joins documents and checks what only the whole can tell: unique names, references. */
export function mergeConfigs(parts: Config[]): Config {
  const merged: Config = { services: [], recorders: [], bypasses: [], log: {} };
  for (const p of parts) {
    merged.services.push(...p.services);
    merged.recorders.push(...p.recorders);
    merged.bypasses.push(...p.bypasses);
    if (p.chains) (merged.chains ??= []).push(...p.chains);
    if (p.log.level) merged.log.level = p.log.level;
    if (p.limits) {
      if (merged.limits) {
        throw new ConfigError(p.limits.where, "limits is already configured in another file");
      }
      merged.limits = p.limits;
    }
    if (p.ui) {
      if (merged.ui) throw new ConfigError(p.ui.where, "ui is already configured in another file");
      merged.ui = p.ui;
    }
  }
  uniqueNames("service", merged.services);
  if (merged.ui) {
    const target = merged.recorders.find((r) => r.name === merged.ui!.store);
    if (!target || target.kind !== "store") {
      throw new ConfigError(
        {
          ...merged.ui.where,
          path: `${merged.ui.where.path ? merged.ui.where.path + "." : ""}ui.store`,
        },
        `"${merged.ui.store}" must name a recorder of kind store`,
      );
    }
  }
  uniqueNames("recorder", merged.recorders);
  uniqueNames("bypass", merged.bypasses);
  resolveChains(merged);
  const recorders = new Set(merged.recorders.map((r) => r.name));
  const bypasses = new Set(merged.bypasses.map((b) => b.name));
  for (const s of merged.services) {
    for (const r of s.recorders) {
      if (!recorders.has(r.name)) {
        throw new ConfigError(
          r.where,
          `recorder "${r.name}" is not defined in any top-level recorders: list`,
        );
      }
    }
    if (s.bypass && !bypasses.has(s.bypass.name)) {
      throw new ConfigError(
        s.bypass.where,
        `bypass "${s.bypass.name}" is not defined in bypasses:`,
      );
    }
  }
  return merged;
}

function uniqueNames(what: string, items: { name: string; where: Where }[]) {
  const seen = new Map<string, Where>();
  for (const item of items) {
    const first = seen.get(item.name);
    if (first) {
      const at = first.line ? `${first.source}:${first.line}` : first.source;
      throw new ConfigError(item.where, `duplicate ${what} name "${item.name}" (first at ${at})`);
    }
    seen.set(item.name, item.where);
  }
}
