/**
 * End-to-end test helpers: snoop in-process from a YAML config, local origins (HTTP, TLS),
 * a webhook that collects records, and real client programs run with a deadline.
 * Everything listens on 127.0.0.1 with port 0 and is closed by the test that opened it.
 */
import { App } from "../../src/app/app.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { mergeConfigs } from "../../src/config/load.ts";
import { Logger, type LogLevel } from "../../src/util/log.ts";
export { freePort, waitForPort } from "../../scripts/lib/processes.ts";

Logger.level = (Deno.env.get("SNOOP_TEST_LOG") ?? "error") as LogLevel;

const IN_CI = Deno.env.get("CI") === "true";

/** Programs found on PATH, looked up once. */
const found = new Map<string, boolean>();
export function hasProgram(name: string): boolean {
  if (!found.has(name)) {
    const dirs = (Deno.env.get("PATH") ?? "").split(":");
    found.set(
      name,
      dirs.some((d) => {
        try {
          return Deno.statSync(`${d}/${name}`).isFile;
        } catch {
          return false;
        }
      }),
    );
  }
  return found.get(name)!;
}

/**
 * `ignore` for a test that needs programs: true (with the reason printed) when one is
 * missing and we run by hand; under CI=true nothing is ignored, so the test fails loudly.
 */
export function needs(...programs: string[]): boolean {
  const missing = programs.filter((p) => !hasProgram(p));
  if (missing.length === 0 || IN_CI) return false;
  console.warn(
    `ignored: needs ${missing.join(", ")} (install: apt-get install ${missing.join(" ")})`,
  );
  return true;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with a deadline (killed past it) and returns its output. */
export async function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; stdin?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: {
      NO_PROXY: "",
      no_proxy: "",
      HTTP_PROXY: "",
      http_proxy: "",
      HTTPS_PROXY: "",
      https_proxy: "",
      ALL_PROXY: "",
      all_proxy: "",
      ...opts.env,
    },
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  // A grandchild that keeps our pipes open must not hold the test past its deadline.
  let giveUp: ReturnType<typeof setTimeout> | undefined;
  const out = await Promise.race([
    child.output(),
    new Promise<never>((_, reject) => {
      giveUp = setTimeout(
        () => reject(new Error(`${cmd} did not finish within ${timeoutMs} ms`)),
        timeoutMs + 5000,
      );
    }),
  ]).finally(() => {
    clearTimeout(timer);
    clearTimeout(giveUp);
  });
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** curl with a deadline; `-s` and a max time are always added. */
export function curl(...args: string[]): Promise<RunResult> {
  return run("curl", ["-s", "--max-time", "15", ...args]);
}

/**
 * The configuration of a sniffing tcp forwarder to `targetPort` whose records, bodies
 * included, go to the webhook at `webhookUrl`.
 */
export function sniffingForwarder(targetPort: number, webhookUrl: string): string {
  return `
services:
  - name: fwd
    addr: 127.0.0.1:0
    recorders: [{ name: hook, metadata: { http.body: true } }]
    handler: { type: tcp, metadata: { sniffing: true } }
    forwarder: { nodes: [{ name: o, addr: "127.0.0.1:${targetPort}" }] }
recorders: [{ name: hook, http: { url: "${webhookUrl}" } }]
`;
}

/** snoop started by `startSnoop`: the app, its ports, and `await using` to stop it. */
export type TestSnoop = App & AsyncDisposable & { port(name?: string): number };

/**
 * snoop in-process, from YAML text. Services should listen on 127.0.0.1:0. With
 * `await using snoop = await startSnoop(…)` it stops (without a grace period) when the scope
 * ends; `snoop.stop(0)` in a `finally` does the same.
 */
export async function startSnoop(yaml: string): Promise<TestSnoop> {
  const config = mergeConfigs([parseConfigText("test.yaml", yaml)]);
  const app = await App.start(config, new Logger("test"));
  return Object.assign(app, {
    port(name?: string) {
      return (name ? app.service(name) : app.services[0]).addr.port;
    },
    [Symbol.asyncDispose]: () => app.stop(0),
  });
}

/** An origin; `await using origin = await startOrigin()` closes it when the scope ends. */
export interface Origin extends AsyncDisposable {
  port: number;
  url: string;
  requests: { method: string; path: string; headers: Headers; body: string }[];
  close(): Promise<void>;
}

/** An HTTP (or, with cert/key, HTTPS) origin that records what it receives. */
export function startOrigin(
  handler?: (req: Request, body: string) => Response | Promise<Response>,
  tls?: { cert: string; key: string },
  port = 0,
): Promise<Origin> {
  const requests: Origin["requests"] = [];
  return new Promise((resolve) => {
    const ac = new AbortController();
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      signal: ac.signal,
      ...(tls ? { cert: tls.cert, key: tls.key } : {}),
      onListen: ({ port }) => {
        const close = async () => {
          ac.abort();
          await server.finished;
        };
        resolve({
          port,
          url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
          requests,
          close,
          [Symbol.asyncDispose]: close,
        });
      },
    }, async (req) => {
      const body = await req.text();
      requests.push({
        method: req.method,
        path: new URL(req.url).pathname,
        headers: req.headers,
        body,
      });
      if (handler) return handler(req, body);
      return new Response(`hello ${req.method} ${new URL(req.url).pathname} ${body}`, {
        headers: { "X-Origin": "test" },
      });
    });
  });
}

/** A webhook; `await using hook = await startWebhook()` closes it when the scope ends. */
export interface Webhook extends AsyncDisposable {
  port: number;
  url: string;
  records: Record<string, unknown>[];
  raw: string[];
  /** Resolves when at least `n` records arrived (or rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/**
 * A webhook collecting the JSON records an `http` recorder POSTs to it (on `port`, or any
 * free one): a record per body, or a JSON array of them (`batch`). `raw` keeps the bodies.
 */
export async function startWebhook(port = 0): Promise<Webhook> {
  const records: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const waiters: (() => void)[] = [];
  const origin = await startOrigin(
    (_req, body) => {
      raw.push(body);
      const parsed = JSON.parse(body);
      records.push(...(Array.isArray(parsed) ? parsed : [parsed]));
      waiters.splice(0).forEach((w) => w());
      return new Response("ok");
    },
    undefined,
    port,
  );
  return {
    port: origin.port,
    url: origin.url,
    records,
    raw,
    async waitFor(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (records.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `expected ${n} records, got ${records.length}: ${
              JSON.stringify(records, null, 1).slice(0, 2000)
            }`,
          );
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise<void>((r) => waiters.push(r)),
          new Promise<void>((r) => timer = setTimeout(r, Math.min(left, 200))),
        ]);
        clearTimeout(timer);
      }
      return records;
    },
    close: origin.close,
    [Symbol.asyncDispose]: origin.close,
  };
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost, made once per test module with openssl;
 * its directory is removed when the module ends.
 */
let certCache: { cert: string; key: string; certFile: string; keyFile: string } | undefined;
export async function testCert(): Promise<
  { cert: string; key: string; certFile: string; keyFile: string }
> {
  if (certCache) return certCache;
  const dir = await Deno.makeTempDir({ prefix: "snoop-cert-" });
  // The files outlive each test (the cache serves the whole module), not the module.
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const certFile = `${dir}/origin.crt`, keyFile = `${dir}/origin.key`;
  const r = await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ]);
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  certCache = {
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
    certFile,
    keyFile,
  };
  return certCache;
}

/** Reads all of a connection until EOF (bounded). */
export async function readAll(conn: Deno.Conn, max = 1 << 20): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(16384);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    parts.push(buf.slice(0, n));
    total += n;
    if (total > max) break;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export const decode = (b: Uint8Array) => new TextDecoder().decode(b);
export const encode = (s: string) => new TextEncoder().encode(s);

/** Polls `check` until it is true (or fails with `what` after `timeoutMs`). */
export { until } from "../../scripts/lib/until.ts";

/** A TCP server that accepts connections and never answers (a hung upstream or recorder). */
export function startSilentServer(): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const holding = (async () => {
    for await (const c of listener) held.push(c);
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      for (const c of held) {
        try {
          c.close();
        } catch { /* closed by the peer */ }
      }
      listener.close();
      await holding.catch(() => {});
    },
  };
}
