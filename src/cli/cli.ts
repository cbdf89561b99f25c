import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { App } from "../app/app.ts";
import { ConfigError } from "../config/config_error.ts";
import { loadConfigFile, mergeConfigs, parseConfigText } from "../config/load.ts";
import { forwardChainPart } from "../config/chain_config.ts";
import { parseServiceUrl } from "../config/service_url.ts";
import type { Config } from "../config/types.ts";
import { log, Logger } from "../util/log.ts";
import { dataDir, MAIN_JOB_ADDR, MAIN_JOB_UI, mainJobConfig } from "../app/main_job.ts";
import { VERSION } from "../util/version.ts";
import { startLoggedIdleCollection } from "../util/idle_collection.ts";
import { makeDataDirPrivate } from "../util/private_files.ts";

export const USAGE = `snoop ${VERSION} — a proxy that records what passes through it

Usage:
  snoop [-L URL]... [-F URL]... [-C FILE]... [-O yaml|json] [-D] [-V]
  snoop ca [--kind ecdsa|rsa] [--dir DIR] [--force]     create a CA for interception
  snoop collect [--addr A] [--store F] [--loki.url U]    store and show records of many proxies
  snoop import FILE.har [--store F]                      put a HAR file's requests into a store

Options:
  -L URL    a service, GOST style: [handler://][user:pass@][host]:port[/targets][?opt=value&...]
            e.g. http://:8080?sniffing=true, socks5://user:pass@:1080, tcp://:2222/127.0.0.1:22
            ?recorders=NAME records into NAME, a recorder defined in a -C file
            (with ?http.body=true to keep bodies)
  -F URL    an upstream proxy the -L services (or the main job) dial through, GOST style:
            http://[user:pass@]host:port or socks5://...; each -F is one hop, in order;
            host:port,host:port is several proxies taking turns; ?bypass=a,b goes around it
  -C FILE   a configuration file (YAML or JSON, GOST's schema); may be repeated
  -O FMT    print the resolved configuration as yaml or json and exit
  --data D  data directory of the main job (default $SNOOP_HOME or ~/.snoop)
  -D        debug logging
  -V        print the version and exit
  --grace D how long open connections may finish at shutdown (default 10s)
  --token T the web UI's access token (default: ui.token, $SNOOP_UI_TOKEN, else a random one
            printed at start as http://127.0.0.1:8081/?token=...); "off" on loopback only
  -h        this help

With no -L or -C, snoop runs its main job: HTTP, SOCKS4 and SOCKS5 proxy on
${MAIN_JOB_ADDR} with sniffing and TLS interception (a CA is created in the data
directory on first run), recording into <data>/records.db, web UI on http://${MAIN_JOB_UI}/.
`;

/** Loads `-C` files and `-L` URLs into one validated configuration. */
export async function loadConfig(
  files: string[],
  urls: string[],
  forward: string[] = [],
): Promise<Config> {
  const parts: Config[] = [];
  for (const f of files) parts.push(await loadConfigFile(f));
  const fromUrls: Config = { services: [], recorders: [], bypasses: [], log: {} };
  // GOST names -L services service-0, service-1, …; skip names a -C file already uses.
  const taken = new Set(parts.flatMap((p) => p.services.map((s) => s.name)));
  let next = 0;
  urls.forEach((url) => {
    while (taken.has(`service-${next}`)) next++;
    const { service, bypasses } = parseServiceUrl(url, next++);
    fromUrls.services.push(service);
    fromUrls.bypasses.push(...bypasses);
  });
  parts.push(fromUrls);
  if (forward.length) {
    if (fromUrls.services.length === 0) {
      throw new ConfigError(
        { source: "-F", path: "" },
        "-F applies to -L services (or the main job); a -C file's services name their chain " +
          "with handler.chain",
      );
    }
    parts.push(forwardChainPart(forward, fromUrls.services));
  }
  return mergeConfigs(parts);
}

/**
 * Services with `sniffing` on and no recorder for their records: they sniff for nothing.
 * (A `-L` service records only into recorders named with `recorders=`.)
 */
export function unrecordedSniffers(config: Config): Config["services"] {
  return config.services.filter((s) =>
    s.handler.metadata.bool("sniffing", false) &&
    !s.recorders.some((r) => r.record === "recorder.service.handler")
  );
}

/** The main job's configuration, dialling through the `-F` proxies when there are some. */
function mainJobWithChain(job: Config, forward: string[]): Config {
  return mergeConfigs(forward.length ? [job, forwardChainPart(forward, job.services)] : [job]);
}

/** A chain as GOST writes it, passwords masked. */
function chainToPlain(c: NonNullable<Config["chains"]>[number]): Record<string, unknown> {
  return {
    name: c.name,
    hops: c.hops.map((h) => ({
      name: h.name,
      ...(h.bypass ? { bypass: h.bypass.name } : {}),
      nodes: h.nodes.map((n) => ({
        name: n.name,
        addr: n.addr,
        connector: {
          type: n.connector.type,
          ...(n.connector.auth
            ? { auth: { username: n.connector.auth.username, password: "******" } }
            : {}),
        },
        dialer: { type: "tcp" },
        ...(n.bypass ? { bypass: n.bypass.name } : {}),
      })),
    })),
  };
}

/** The configuration as plain data, for `-O`. */
export function configToPlain(config: Config): Record<string, unknown> {
  return {
    services: config.services.map((s) => ({
      name: s.name,
      addr: s.addr,
      handler: {
        type: s.handler.type,
        ...(s.handler.auth
          ? { auth: { username: s.handler.auth.username, password: "******" } }
          : {}),
        ...(Object.keys(s.handler.metadata.toObject()).length
          ? { metadata: s.handler.metadata.toObject() }
          : {}),
        ...(s.handler.chain ? { chain: s.handler.chain.name } : {}),
      },
      listener: { type: s.listener.type },
      ...(s.forwarder.nodes.length
        ? { forwarder: { nodes: s.forwarder.nodes.map((n) => ({ name: n.name, addr: n.addr })) } }
        : {}),
      ...(s.recorders.length
        ? {
          recorders: s.recorders.map((r) => ({
            name: r.name,
            record: r.record,
            ...(Object.keys(r.metadata.toObject()).length
              ? { metadata: r.metadata.toObject() }
              : {}),
          })),
        }
        : {}),
      ...(s.bypass ? { bypass: s.bypass.name } : {}),
    })),
    ...(config.recorders.length
      ? {
        recorders: config.recorders.map((r) => {
          const { where: _w, kind, queueSize, name, ...rest } = r;
          return { name, queueSize, [kind]: (rest as Record<string, unknown>)[kind] };
        }),
      }
      : {}),
    ...(config.bypasses.length
      ? {
        bypasses: config.bypasses.map((b) => ({
          name: b.name,
          whitelist: b.whitelist,
          matchers: b.matchers,
        })),
      }
      : {}),
    ...(config.chains?.length ? { chains: config.chains.map(chainToPlain) } : {}),
    ...(config.log.level ? { log: { level: config.log.level } } : {}),
    ...(config.ui
      ? {
        ui: {
          addr: config.ui.addr,
          store: config.ui.store,
          // "off" is a setting, not a secret; any other token is masked.
          ...(config.ui.token ? { token: config.ui.token === "off" ? "off" : "******" } : {}),
          ...(config.ui.caFile ? { caFile: config.ui.caFile } : {}),
          ...(config.ui.hosts.length ? { hosts: config.ui.hosts } : {}),
        },
      }
      : {}),
  };
}

/** Runs the command line; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  // The CA code (node:crypto, X.509) loads only for the commands that use it: idle RSS.
  if (args[0] === "ca") return await (await import("./ca_command.ts")).caCommand(args.slice(1));
  if (args[0] === "import") {
    return await (await import("./import_command.ts")).importCommand(args.slice(1));
  }
  if (args[0] === "collect") {
    // Loaded only for this command: it brings the PostgreSQL client.
    const { collectCommand } = await import("./collect_command.ts");
    return await collectCommand(args.slice(1));
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        L: { type: "string", multiple: true },
        F: { type: "string", multiple: true },
        C: { type: "string", multiple: true },
        O: { type: "string" },
        D: { type: "boolean" },
        V: { type: "boolean" },
        h: { type: "boolean" },
        help: { type: "boolean" },
        grace: { type: "string" },
        data: { type: "string" },
        token: { type: "string" },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (e) {
    console.error(`snoop: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.h || v.help) {
    console.log(USAGE);
    return 0;
  }
  if (v.V) {
    console.log(`snoop ${VERSION} (deno ${Deno.version.deno})`);
    return 0;
  }
  if (v.D) Logger.level = "debug";
  if (v.O && v.O !== "yaml" && v.O !== "json") {
    console.error(`snoop: -O takes yaml or json, got "${v.O}"`);
    return 2;
  }
  const urls = v.L ?? [];
  const files = v.C ?? [];
  const mainJob = urls.length === 0 && files.length === 0;

  let mainCa: { certFile: string; created: boolean } | undefined;
  const ca = mainJob && !v.O ? await import("./ca_command.ts") : undefined;
  if (mainJob && !v.O) {
    const wider = await makeDataDirPrivate(dataDir(v.data));
    if (wider !== null) {
      log.warn("the data directory was readable by others: made it private", {
        dir: dataDir(v.data),
        was: wider.toString(8),
      });
    }
  }
  if (ca) mainCa = await ca.ensureCa(dataDir(v.data));
  let config: Config;
  try {
    config = mainJob
      ? mainJobWithChain(
        parseConfigText("(main job)", mainJobConfig(dataDir(v.data), !!mainCa)),
        v.F ?? [],
      )
      : await loadConfig(files, urls, v.F ?? []);
    if (config.log.level && !v.D) Logger.level = config.log.level;
    if (v.token !== undefined && config.ui) config.ui.token = v.token;
    if (config.services.length === 0) {
      throw new ConfigError(
        { source: files.join(", ") || "-L", path: "services" },
        "no services to run",
      );
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`snoop: configuration error: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (v.O) {
    try {
      await (await App.build(config, log)).stop(0);
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(`snoop: configuration error: ${e.message}`);
        return 2;
      }
      throw e;
    }
    const plain = configToPlain(config);
    console.log(v.O === "json" ? JSON.stringify(plain, null, 2) : stringify(plain));
    return 0;
  }

  let graceMs = 10_000;
  if (v.grace) {
    const m = /^(\d+)(ms|s)?$/.exec(v.grace);
    if (!m) {
      console.error(`snoop: --grace takes a duration such as 10s or 500ms, got "${v.grace}"`);
      return 2;
    }
    graceMs = Number(m[1]) * (m[2] === "ms" ? 1 : 1000);
  }

  await guardKeyLog();
  let app: App;
  try {
    app = await App.start(config, log);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`snoop: configuration error: ${e.message}`);
      return 2;
    }
    throw e;
  }
  for (const s of config.services) {
    const listening = app.service(s.name).addr;
    const host = listening.hostname;
    const loopback = host === "127.0.0.1" || host === "::1" || host.startsWith("127.");
    if (!loopback && !s.handler.auth) {
      log.warn(
        "service listens beyond loopback without auth: anyone who can reach it can use it",
        { service: s.name, addr: s.addr },
      );
    }
  }
  for (const s of unrecordedSniffers(config)) {
    log.warn(
      "service sniffs but has no recorder, so nothing it sees is recorded: add " +
        "recorders=NAME to its -L URL (NAME a recorder from a -C file), or recorders: to " +
        "the service in the file",
      { service: s.name, addr: s.addr },
    );
  }

  if (mainJob) {
    log.info(`proxy ready: curl -x http://${MAIN_JOB_ADDR} http://example.com/`, {
      ui: app.uiUrl ?? `http://${MAIN_JOB_UI}/`,
      store: `${dataDir(v.data)}/records.db`,
    });
    if (mainCa) {
      log.info(`${mainCa.created ? "created" : "intercepting TLS with"} the CA ${mainCa.certFile}`);
      if (mainCa.created) console.error(ca!.trustInstructions(mainCa.certFile));
    }
  }

  const stopped = new Promise<string>((resolve) => {
    const onSignal = (sig: Deno.Signal) => () => resolve(sig);
    for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, onSignal(sig));
  });
  const idle = startLoggedIdleCollection(log);
  const sig = await stopped;
  idle.stop();
  log.info("shutting down", { signal: sig, graceMs });
  await app.stop(graceMs);
  for (const [name, r] of app.recorders) {
    const st = r.stats();
    if (st.written || Object.keys(st.dropped).length) {
      log.info("recorder totals", { recorder: name, written: st.written, dropped: st.dropped });
    }
  }
  return 0;
}

/**
 * SSLKEYLOGFILE: the Deno runtime writes the keys of its own rustls sessions there, but in
 * Deno 2.9.6 the node:tls sessions snoop intercepts with are not written (and node's
 * `keylog` event never fires), so Wireshark cannot be given those keys. Say so, and keep
 * the file private for whatever the runtime does write.
 */
async function guardKeyLog(): Promise<void> {
  const file = Deno.env.get("SSLKEYLOGFILE");
  if (!file) return;
  try {
    const f = await Deno.open(file, { create: true, append: true, mode: 0o600 });
    f.close();
    await Deno.chmod(file, 0o600).catch(() => {});
  } catch (e) {
    log.warn("SSLKEYLOGFILE cannot be opened", { file, error: e });
    return;
  }
  log.warn(
    "SSLKEYLOGFILE is set, but this runtime does not log the keys of intercepted TLS sessions " +
      "(node:tls in Deno 2.9.6); only Deno's own TLS connections, such as an https recorder, " +
      "may be written there. snoop's records already hold the decrypted requests.",
    { file },
  );
}
