import { ConfigError, type Where } from "./config_error.ts";
import { MapReader } from "./map_reader.ts";
import type { SourceTree } from "./source_tree.ts";
import type {
  BypassConfig,
  ChainConfig,
  ChainNodeConfig,
  Config,
  HopConfig,
  ServiceConfig,
} from "./types.ts";

/**
 * GOST's upstream proxies: `chains:` of `hops`, each hop a list of `nodes` (one is picked
 * per connection), each node an upstream proxy reached with a `connector` (`http` CONNECT
 * or `socks5`) over a `dialer` (`tcp`). A service uses one with `handler.chain: <name>`;
 * `-F URL` on the command line is one hop of the chain `chain-0`, in order.
 */

/** Connectors snoop speaks to an upstream proxy. */
export const CONNECTORS = ["http", "socks5"] as const;

const CHAIN_KEYS = ["name", "hops"];
const CHAIN_UNSUPPORTED = ["selector", "metadata"];
const HOP_KEYS = ["name", "nodes", "bypass"];
const HOP_UNSUPPORTED = [
  "bypasses",
  "selector",
  "interface",
  "sockopts",
  "resolver",
  "hosts",
  "plugin",
  "file",
  "redis",
  "http",
  "reload",
  "metadata",
];
const NODE_KEYS = ["name", "addr", "connector", "dialer", "bypass"];
const NODE_UNSUPPORTED = [
  "bypasses",
  "interface",
  "sockopts",
  "netns",
  "resolver",
  "hosts",
  "filter",
  "matcher",
  "http",
  "tls",
  "metadata",
];

/** One entry of `chains:`. */
export function readChain(tree: SourceTree, item: { value: unknown; path: string }): ChainConfig {
  const c = MapReader.open(tree, item.path, item.value, CHAIN_KEYS, CHAIN_UNSUPPORTED);
  const name = c.string("name", { required: true });
  const hops = c.list("hops").map((h, i) => readHop(tree, h, i));
  if (hops.length === 0) throw new ConfigError(c.where, `chain "${name}" has no hops`);
  return { name, hops, where: c.where };
}

function readHop(tree: SourceTree, item: { value: unknown; path: string }, i: number): HopConfig {
  const h = MapReader.open(tree, item.path, item.value, HOP_KEYS, HOP_UNSUPPORTED);
  const name = h.string("name", { fallback: `hop-${i}` });
  const nodes = h.list("nodes").map((n, j) => readNode(tree, n, j));
  if (nodes.length === 0) {
    throw new ConfigError(
      h.where,
      `hop "${name}" has no nodes (a hop is written inside its chain, with its nodes; ` +
        "top-level hops: are not supported)",
    );
  }
  return {
    name,
    nodes,
    bypass: h.has("bypass") ? { name: h.string("bypass"), where: h.whereOf("bypass") } : undefined,
    where: h.where,
  };
}

function readNode(
  tree: SourceTree,
  item: { value: unknown; path: string },
  i: number,
): ChainNodeConfig {
  const n = MapReader.open(tree, item.path, item.value, NODE_KEYS, NODE_UNSUPPORTED);
  const addr = n.string("addr", { required: true });
  checkAddr(addr, n.whereOf("addr"));
  // GOST's default connector is http, its default dialer tcp.
  let type = "http";
  let auth: ChainNodeConfig["connector"]["auth"];
  if (n.has("connector")) {
    const c = n.map("connector", ["type", "auth"], ["metadata", "tls"]);
    type = c.string("type", { fallback: "http" }).toLowerCase();
    if (!(CONNECTORS as readonly string[]).includes(type)) {
      throw new ConfigError(
        c.whereOf("type"),
        `connector type "${type}" is not supported by snoop (${CONNECTORS.join(", ")} are)`,
      );
    }
    if (c.has("auth")) {
      const a = c.map("auth", ["username", "password"]);
      auth = { username: a.string("username"), password: a.string("password") };
    }
  }
  if (n.has("dialer")) {
    const d = n.map("dialer", ["type"], ["metadata", "tls"]);
    const dialer = d.string("type", { fallback: "tcp" }).toLowerCase();
    if (dialer !== "tcp") {
      throw new ConfigError(
        d.whereOf("type"),
        `dialer type "${dialer}" is not supported by snoop (tcp is)`,
      );
    }
  }
  checkAuth(type, auth, n.where);
  return {
    name: n.string("name", { fallback: `node-${i}` }),
    addr,
    connector: { type: type as ChainNodeConfig["connector"]["type"], auth },
    bypass: n.has("bypass") ? { name: n.string("bypass"), where: n.whereOf("bypass") } : undefined,
    where: n.where,
  };
}

function checkAddr(addr: string, where: Where) {
  if (
    !/^(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):\d{1,5}$/.test(addr) ||
    Number(addr.split(":").pop()) > 65535
  ) {
    throw new ConfigError(where, `"${addr}" is not host:port`);
  }
}

/** RFC 1929 carries user and password in at most 255 bytes each. */
function checkAuth(type: string, auth: ChainNodeConfig["connector"]["auth"], where: Where) {
  if (!auth || type !== "socks5") return;
  const enc = new TextEncoder();
  if (enc.encode(auth.username).length > 255 || enc.encode(auth.password).length > 255) {
    throw new ConfigError(where, "socks5 user name and password are at most 255 bytes each");
  }
}

/**
 * `-F` URLs as GOST reads them: each one hop of `chain-0`, in order;
 * `connector[+dialer]://[user:pass@]host:port[,host:port...][?bypass=a,b]` — several
 * addresses are several nodes of the hop, `bypass` (`~` for a whitelist) the hop's bypass.
 */
export function parseChainUrls(
  urls: string[],
  name = "chain-0",
): { chain: ChainConfig; bypasses: BypassConfig[] } {
  const bypasses: BypassConfig[] = [];
  const hops = urls.map((url, i): HopConfig => {
    const where: Where = { source: `-F ${redact(url)}`, path: "" };
    const fail = (problem: string): never => {
      throw new ConfigError(where, problem);
    };
    let rest = url;
    let scheme = "http";
    const sep = rest.indexOf("://");
    if (sep >= 0) [scheme, rest] = [rest.slice(0, sep).toLowerCase(), rest.slice(sep + 3)];
    let query = "";
    const q = rest.indexOf("?");
    if (q >= 0) [rest, query] = [rest.slice(0, q), rest.slice(q + 1)];
    rest = rest.replace(/\/$/, "");
    let userinfo: string | undefined;
    const at = rest.lastIndexOf("@");
    if (at >= 0) [userinfo, rest] = [rest.slice(0, at), rest.slice(at + 1)];
    const [connector, dialer = "tcp"] = scheme.split("+");
    if (!(CONNECTORS as readonly string[]).includes(connector)) {
      fail(`connector "${connector}" is not supported by snoop (${CONNECTORS.join(", ")} are)`);
    }
    if (dialer !== "tcp") fail(`dialer "${dialer}" is not supported by snoop (tcp is)`);
    let auth: ChainNodeConfig["connector"]["auth"];
    if (userinfo !== undefined) {
      const colon = userinfo.indexOf(":");
      const dec = (s: string) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return fail("the user name or password is not valid percent-encoding");
        }
      };
      auth = colon < 0
        ? { username: dec(userinfo), password: "" }
        : { username: dec(userinfo.slice(0, colon)), password: dec(userinfo.slice(colon + 1)) };
    }
    const hop: HopConfig = { name: `hop-${i}`, nodes: [], where };
    for (const [key, value] of new URLSearchParams(query)) {
      if (key.toLowerCase() !== "bypass") {
        fail(`option "${key}" is not supported on -F (bypass is)`);
      }
      const whitelist = value.startsWith("~");
      const bypassName = `${name}-hop-${i}-bypass`;
      bypasses.push({
        name: bypassName,
        whitelist,
        matchers: (whitelist ? value.slice(1) : value).split(",").map((s) => s.trim())
          .filter(Boolean),
        where: { ...where, path: "?bypass" },
      });
      hop.bypass = { name: bypassName, where: { ...where, path: "?bypass" } };
    }
    rest.split(",").forEach((addr, j) => {
      checkAddr(addr, where);
      checkAuth(connector, auth, where);
      hop.nodes.push({
        name: `node-${j}`,
        addr,
        connector: { type: connector as ChainNodeConfig["connector"]["type"], auth },
        where,
      });
    });
    return hop;
  });
  return { chain: { name, hops, where: { source: "-F", path: "" } }, bypasses };
}

/** A -F URL for messages: the password is not repeated. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:******@");
}

/** Handlers that never dial a client's target: a chain on them would do nothing. */
const NOT_DIALLING = ["dns"];

/**
 * Checks chain names and references across merged documents, and gives each service its
 * chain: unknown names are errors at the reference, never an unused chain.
 */
export function resolveChains(config: Config): void {
  const chains = new Map<string, ChainConfig>();
  for (const c of config.chains ?? []) {
    const first = chains.get(c.name);
    if (first) {
      const at = first.where.line
        ? `${first.where.source}:${first.where.line}`
        : first.where.source;
      throw new ConfigError(c.where, `duplicate chain name "${c.name}" (first at ${at})`);
    }
    chains.set(c.name, c);
  }
  const bypasses = new Set(config.bypasses.map((b) => b.name));
  const checkBypass = (ref: { name: string; where: Where } | undefined) => {
    if (ref && !bypasses.has(ref.name)) {
      throw new ConfigError(ref.where, `bypass "${ref.name}" is not defined in bypasses:`);
    }
  };
  for (const c of chains.values()) {
    for (const h of c.hops) {
      checkBypass(h.bypass);
      h.nodes.forEach((n) => checkBypass(n.bypass));
    }
  }
  for (const s of config.services) {
    const ref = s.handler.chain;
    if (!ref) continue;
    const chain = chains.get(ref.name);
    if (!chain) throw new ConfigError(ref.where, `chain "${ref.name}" is not defined in chains:`);
    if (NOT_DIALLING.includes(s.handler.type.toLowerCase())) {
      throw new ConfigError(
        ref.where,
        `the ${s.handler.type} handler does not dial through a chain (its upstreams are ` +
          "resolvers, not proxies)",
      );
    }
    ref.config = chain;
  }
}

/**
 * `-F` URLs as a configuration part: the chain `chain-0` (and its hops' bypasses), set as
 * `handler.chain` of `services` (the `-L` services, or the main job's), as GOST does.
 */
export function forwardChainPart(urls: string[], services: ServiceConfig[]): Config {
  const { chain, bypasses } = parseChainUrls(urls);
  for (const s of services) {
    if (s.handler.chain) continue;
    s.handler.chain = { name: chain.name, where: chain.where };
  }
  return { services: [], recorders: [], bypasses, log: {}, chains: [chain] };
}
