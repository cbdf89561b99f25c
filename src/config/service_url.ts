import { ConfigError, type Where } from "./config_error.ts";
import { Metadata } from "./metadata.ts";
import type { BypassConfig, ServiceConfig } from "./types.ts";

/**
 * GOST's `-L` service URL: `[handler[+listener]://][user:pass@][host]:port[/targets][?k=v]`.
 *
 * - no scheme, or an unknown one, is `auto` (HTTP, SOCKS4 and SOCKS5 on one port);
 * - `/targets` (comma list) are the forwarding targets of `tcp`/`udp` handlers;
 * - query parameters are options: `handler.`, `listener.` and `service.` prefixes say whose,
 *   unprefixed ones go to whichever component reads them (GOST gives them to all three);
 * - `auth=base64(user:pass)` and `bypass=a,b` (`~a,b` for a whitelist) are GOST's specials;
 * - `recorders=a,b` is snoop's: the service records into those recorders (defined by a `-C`
 *   file; GOST has no way to say this on the command line), with `http.body` and
 *   `http.maxBodySize` (or `recorder.`-prefixed options) as the recorder options.
 */
export function parseServiceUrl(
  url: string,
  index: number,
): { service: ServiceConfig; bypasses: BypassConfig[] } {
  const where: Where = { source: `-L ${url}`, path: "" };
  const fail = (problem: string): never => {
    throw new ConfigError(where, problem);
  };
  let rest = url;
  let scheme = "";
  const sep = rest.indexOf("://");
  if (sep >= 0) {
    scheme = rest.slice(0, sep).toLowerCase();
    rest = rest.slice(sep + 3);
  }
  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) [rest, query] = [rest.slice(0, q), rest.slice(q + 1)];
  let path = "";
  const slash = rest.indexOf("/");
  if (slash >= 0) [rest, path] = [rest.slice(0, slash), rest.slice(slash + 1)];
  let userinfo: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) [userinfo, rest] = [rest.slice(0, at), rest.slice(at + 1)];
  const addr = rest;
  if (!/:\d{1,5}$/.test(addr)) fail(`the address "${addr}" needs a port, as in ":8080"`);

  let [handlerType, listenerType] = scheme.split("+");
  if (!handlerType) handlerType = "auto";
  const targets = path ? path.split(",").map((t) => decodeURIComponent(t)).filter(Boolean) : [];
  if (!listenerType) {
    listenerType = handlerType === "dns" ? "udp" : handlerType === "udp" ? "udp" : "tcp";
  }
  if (targets.length > 0 && !["tcp", "udp", "dns"].includes(handlerType)) {
    fail(`forwarding targets are only supported with tcp://, got ${handlerType}://`);
  }

  const name = `service-${index}`;
  const optWhere = (key: string): Where => ({ ...where, path: `?${key}` });
  const service: ServiceConfig = {
    name,
    addr,
    handler: { type: handlerType, metadata: new Metadata(where), where, typeWhere: where },
    listener: { type: listenerType, metadata: new Metadata(where), where, typeWhere: where },
    forwarder: {
      nodes: targets.map((addr, i) => ({ name: `target-${i}`, addr, where })),
    },
    recorders: [],
    metadata: new Metadata(where),
    where,
  };
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(":");
    service.handler.auth = colon < 0 ? { username: decodeURIComponent(userinfo), password: "" } : {
      username: decodeURIComponent(userinfo.slice(0, colon)),
      password: decodeURIComponent(userinfo.slice(colon + 1)),
    };
  }
  const bypasses: BypassConfig[] = [];
  const recorderNames: string[] = [];
  const recorderOptions: [string, string, Where][] = [];
  for (const [key, value] of new URLSearchParams(query)) {
    const lower = key.toLowerCase();
    if (lower === "recorders") {
      recorderNames.push(...value.split(",").map((s) => s.trim()).filter(Boolean));
      if (recorderNames.length === 0) fail("recorders= needs recorder names, as in recorders=hook");
    } else if (lower.startsWith("recorder.")) {
      recorderOptions.push([key.slice(9), value, optWhere(key)]);
    } else if (lower === "http.body" || lower === "http.maxbodysize") {
      // Recorder options in GOST's schema: they go with the recorders= references.
      recorderOptions.push([key, value, optWhere(key)]);
    } else if (lower === "auth") {
      let decoded = "";
      try {
        decoded = atob(value);
      } catch {
        fail(`auth must be base64 of "user:pass"`);
      }
      const colon = decoded.indexOf(":");
      service.handler.auth = {
        username: colon < 0 ? decoded : decoded.slice(0, colon),
        password: colon < 0 ? "" : decoded.slice(colon + 1),
      };
    } else if (lower === "bypass") {
      const whitelist = value.startsWith("~");
      const bypassName = `bypass-${index}`;
      bypasses.push({
        name: bypassName,
        whitelist,
        matchers: (whitelist ? value.slice(1) : value).split(",").map((s) => s.trim()).filter(
          Boolean,
        ),
        where: optWhere(key),
      });
      service.bypass = { name: bypassName, where: optWhere(key) };
    } else if (lower.startsWith("handler.")) {
      service.handler.metadata.set(key.slice(8), value, optWhere(key));
    } else if (lower.startsWith("listener.")) {
      service.listener.metadata.set(key.slice(9), value, optWhere(key));
    } else if (lower.startsWith("service.")) {
      service.metadata.set(key.slice(8), value, optWhere(key));
    } else {
      for (const md of [service.handler.metadata, service.listener.metadata, service.metadata]) {
        md.set(key, value, optWhere(key), true);
      }
    }
  }
  if (recorderOptions.length && recorderNames.length === 0) {
    throw new ConfigError(
      recorderOptions[0][2],
      `${recorderOptions[0][0]} is a recorder option: name the recorders too, as in ` +
        "recorders=hook (a recorder defined in a -C file)",
    );
  }
  for (const recorder of recorderNames) {
    const metadata = new Metadata(optWhere("recorders"));
    for (const [k, v, w] of recorderOptions) metadata.set(k, v, w);
    service.recorders.push({
      name: recorder,
      record: "recorder.service.handler",
      metadata,
      where: optWhere("recorders"),
    });
  }
  return { service, bypasses };
}
