import { recordsFromHar, toHar } from "../store/har.ts";
import { newSid } from "../record/sid.ts";
import { filterCond, filterFromParams, filterMatcher, type RecordFilter } from "../store/filter.ts";
import type { RecordQueries, RecordSummary } from "../store/summary.ts";
import { type AccessPolicy, checkAccess, checkWrite, SECURITY_HEADERS } from "./access_policy.ts";
import { replayMark } from "../record/replay_of.ts";
import { pickProxy, type ReplayProxy, ReplayRefused, replayRequest, sendReplay } from "./replay.ts";
import { bodyResponse } from "./body_response.ts";
import { type ExportFormat, exportResponse } from "./export_code.ts";
import INDEX_HTML from "./ui/index.html" with { type: "text" };
import APP_JS from "./ui/app.js" with { type: "text" };
import STYLE_CSS from "./ui/style.css" with { type: "text" };
import FAVICON_SVG from "./ui/favicon.svg" with { type: "text" };

/**
 * The web UI and its JSON API as one `fetch(Request) → Response` function (Hono's model:
 * tests call it without a socket). Every request passes `checkAccess` first (Host, Origin,
 * token); a POST also `checkWrite` (its own origin, a JSON body). Routes:
 *
 *   GET /  /app.js  /style.css  /favicon.svg  the UI (files in ./ui, embedded as text imports)
 *   GET /healthz                       "ok", without the token
 *   GET /api/records?filters&limit&before     newest first, paged by id
 *   GET /api/records/:id               one record (GOST JSON)
 *   GET /api/records/:id/body/:side    a body decoded (gzip, deflate, br, zstd), `side` = request|response
 *   GET /api/records/:id/as/:format    the request as code: curl, fetch, httpie, python, raw
 *   POST /api/records/:id/replay       sends the request again through a proxy service, with
 *                                      optional edits {method, url, headers, body (base64)}
 *   GET /api/sessions/:sid             every record of one connection
 *   GET /api/stats?filters             per-minute by status class, top hosts, protocols, error rate
 *   GET /api/har?filters               HAR 1.2 of the filtered HTTP records
 *   POST /api/har                      imports a HAR 1.2 file (service "import")
 *   GET /api/events?filters            server-sent events: each new record's summary that
 *                                      matches (the filters as /api/records takes them, `f=`)
 *   GET /ca.crt                        the CA certificate, when one is configured (no token)
 *   GET /metrics                       Prometheus text (token as Authorization: Bearer)
 */
export interface WebAppOptions {
  store: RecordQueries;
  /** Who may ask: allowed Host names and the token. */
  access: AccessPolicy;
  caFile?: string;
  metrics?: () => string;
  /** Stores imported records (GOST JSON text); returns how many were stored. None: 404. */
  importRecords?: (records: string[]) => number | Promise<number>;
  /** The proxy services a replay can go through (none: replays answer 409). */
  replayProxies?: () => ReplayProxy[];
}

/** The largest POST body read: a replay's edits (an 8 MiB body in base64, and headers). */
const MAX_EDITS_BYTES = 12 << 20;
/** The largest HAR file `POST /api/har` takes. */
export const MAX_HAR_BYTES = 64 << 20;

type Route = (url: URL, groups: Record<string, string | undefined>, req: Request) =>
  | Response
  | Promise<Response>;

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

const file = (body: string, type: string) => () =>
  new Response(body, { headers: { "content-type": type, "cache-control": "no-cache" } });

export function createWebApp(opts: WebAppOptions): (req: Request) => Promise<Response> {
  const { store } = opts;
  const page = file(INDEX_HTML, "text/html; charset=utf-8");
  const icon = file(FAVICON_SVG, "image/svg+xml");
  const table: [URLPattern, Route][] = ([
    ["/", page],
    ["/index.html", page],
    ["/app.js", file(APP_JS, "text/javascript; charset=utf-8")],
    ["/style.css", file(STYLE_CSS, "text/css; charset=utf-8")],
    ["/favicon.svg", icon],
    ["/favicon.ico", icon],
    ["/healthz", () => new Response("ok", { headers: { "content-type": "text/plain" } })],
    ["/api/records", async (url) => {
      const limit = Math.min(
        Math.max(Number(url.searchParams.get("limit") ?? 100) || 100, 1),
        1000,
      );
      const before = url.searchParams.get("before");
      return json(
        await store.list(
          filterFromParams(url.searchParams),
          limit,
          before ? Number(before) : undefined,
        ),
      );
    }],
    ["/api/records/:id(\\d+)", async (_, g) => {
      const rec = await store.get(Number(g.id));
      return rec ? json(rec) : json({ error: "no such record" }, 404);
    }],
    [
      "/api/records/:id(\\d+)/body/:side(request|response)",
      async (_, g) => bodyResponse(await store.get(Number(g.id)), g.side as "request" | "response"),
    ],
    [
      "/api/records/:id(\\d+)/as/:format(curl|fetch|httpie|python|raw)",
      async (_, g) => exportResponse(await store.get(Number(g.id)), g.format as ExportFormat),
    ],
    ["/api/sessions/:sid([0-9a-v]{20})", async (_, g) => json(await store.bySid(g.sid!))],
    ["/api/stats", async (url) => json(await store.stats(filterFromParams(url.searchParams)))],
    ["/api/har", async (url) => {
      const har = toHar((await store.full(filterFromParams(url.searchParams))).map((r) => r.json));
      return new Response(JSON.stringify(har, null, 1), {
        headers: {
          "content-type": "application/json",
          "content-disposition": 'attachment; filename="snoop.har"',
        },
      });
    }],
    ["/api/events", (url) => events(store, filterFromParams(url.searchParams))],
    ["/ca.crt", async () => {
      if (!opts.caFile) return json({ error: "no CA configured" }, 404);
      return new Response(await Deno.readFile(opts.caFile), {
        headers: {
          "content-type": "application/x-x509-ca-cert",
          "content-disposition": 'attachment; filename="snoop-ca.crt"',
        },
      });
    }],
    [
      "/metrics",
      () =>
        opts.metrics
          ? new Response(opts.metrics(), {
            headers: { "content-type": "text/plain; version=0.0.4" },
          })
          : json({ error: "not found" }, 404),
    ],
  ] as [string, Route][]).map(([pathname, route]) => [new URLPattern({ pathname }), route]);

  const posts: [URLPattern, Route][] = ([
    ["/api/records/:id(\\d+)/replay", (_, g, req) => replay(Number(g.id), req)],
    ["/api/har", (_, __, req) => importHar(req)],
  ] as [string, Route][]).map(([pathname, route]) => [new URLPattern({ pathname }), route]);

  const importHar = async (req: Request): Promise<Response> => {
    if (!opts.importRecords) return json({ error: "this server does not import" }, 404);
    const refused = checkWrite(req, opts.access, ["application/json", "application/har+json"]);
    if (refused) return refused;
    const text = await readCapped(req, MAX_HAR_BYTES);
    if (text === null) return json({ error: `the HAR is over ${MAX_HAR_BYTES} bytes` }, 413);
    let har: unknown;
    try {
      har = JSON.parse(text);
    } catch {
      return json({ error: "the body is not JSON" }, 400);
    }
    const { records, errors } = recordsFromHar(har, () => newSid());
    let imported = 0;
    // In slices: the store's writes share this thread with the proxy.
    for (let i = 0; i < records.length; i += 500) {
      imported += await opts.importRecords(records.slice(i, i + 500));
      await new Promise((r) => setTimeout(r, 0));
    }
    return json({ imported, skipped: errors.length, errors: errors.slice(0, 100) });
  };

  const replay = async (id: number, req: Request): Promise<Response> => {
    const refused = checkWrite(req, opts.access, ["application/json"]);
    if (refused) return refused;
    const text = await readCapped(req, MAX_EDITS_BYTES);
    if (text === null) return json({ error: "the edits are too large" }, 413);
    let edits: unknown;
    try {
      edits = text.trim() ? JSON.parse(text) : undefined;
    } catch {
      return json({ error: "the body is not JSON" }, 400);
    }
    const record = await store.get(id);
    if (!record) return json({ error: "no such record" }, 404);
    try {
      const plan = replayRequest(record, edits);
      const proxy = pickProxy(opts.replayProxies?.() ?? [], String(record.service ?? ""));
      if (!proxy) return json({ error: "no http or auto proxy service to replay through" }, 409);
      const watch = watchReplays(store, id);
      try {
        const res = await sendReplay(plan, proxy, replayMark(id));
        return json({
          replayOf: id,
          record: await watch.next(5000),
          service: proxy.name,
          request: { method: plan.method, url: plan.url, headers: plan.headers },
          response: {
            status: res.status,
            proto: res.proto,
            headers: res.headers,
            body: base64(res.body),
            truncated: res.truncated,
          },
        });
      } finally {
        watch.stop();
      }
    } catch (e) {
      if (e instanceof ReplayRefused) {
        return json(
          { error: e.message, ...(e.redacted.length ? { redacted: e.redacted } : {}) },
          e.status,
        );
      }
      return json({ error: `the replay failed: ${(e as Error).message}` }, 502);
    }
  };

  const answer = async (req: Request): Promise<Response> => {
    const refused = checkAccess(req, opts.access);
    if (refused) return refused;
    const url = new URL(req.url);
    if (req.method === "POST") {
      for (const [pattern, route] of posts) {
        const m = pattern.exec(url);
        if (!m) continue;
        try {
          return await route(url, m.pathname.groups, req);
        } catch (e) {
          if (e instanceof RangeError) return json({ error: e.message }, 400);
          throw e;
        }
      }
      return json({ error: "only GET and HEAD here" }, 405);
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return json({ error: "only GET, HEAD and POST" }, 405);
    }
    for (const [pattern, route] of table) {
      const m = pattern.exec(url);
      if (!m) continue;
      try {
        return await route(url, m.pathname.groups, req);
      } catch (e) {
        if (e instanceof RangeError) return json({ error: e.message }, 400);
        throw e;
      }
    }
    return json({ error: "not found" }, 404);
  };
  return async (req) => withSecurityHeaders(await answer(req));
}

/** The request body as text, or null past `max` bytes (read no further). */
async function readCapped(req: Request, max: number): Promise<string | null> {
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const c of req.body) {
    total += c.length;
    if (total > max) return null;
    chunks.push(c);
  }
  const all = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/**
 * Watches the store for the record a replay of `id` makes (an HTTP record whose `replayOf`
 * is `id`): `next` resolves with its id, or null after `ms`.
 */
function watchReplays(store: RecordQueries, id: number) {
  const seen: number[] = [];
  let wake = () => {};
  const unsubscribe = store.subscribe((s) => {
    if (s.kind === "http") {
      seen.push(s.id);
      wake();
    }
  });
  return {
    async next(ms: number): Promise<number | null> {
      const deadline = Date.now() + ms;
      for (;;) {
        while (seen.length) {
          const candidate = seen.shift()!;
          const rec = await store.get(candidate);
          if (rec?.replayOf === id && rec.http?.method !== "CONNECT") return candidate;
        }
        const left = deadline - Date.now();
        if (left <= 0) return null;
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    },
    stop: unsubscribe,
  };
}

/** Adds the UI's security headers to a response, keeping any it set itself (the body's CSP). */
function withSecurityHeaders(res: Response): Response {
  const missing = Object.entries(SECURITY_HEADERS).filter(([k]) => !res.headers.has(k));
  if (!missing.length) return res;
  const headers = new Headers(res.headers);
  for (const [k, v] of missing) headers.set(k, v);
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

/**
 * Server-sent events of new record summaries, until the client goes away: the server then
 * cancels the body stream (its `cancel` unsubscribes). The request's `signal` is not used:
 * Deno warns about its legacy abort-on-disconnect behaviour when it is listened to.
 */
function events(store: RecordQueries, filter: RecordFilter): Response {
  const encoder = new TextEncoder();
  let unsubscribe = () => {};
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  const cond = filterCond(filter);
  const filtered = cond.k !== "and" || cond.items.length > 0;
  const test = filterMatcher(filter);
  // A filtered list tests each new record whole, read back from the store (the same JSON a
  // query tests), in arrival order; past MAX_PENDING records waiting, new ones are skipped.
  let pending = 0, chain = Promise.resolve();
  const MAX_PENDING = 1000;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(": snoop live records\n\n"));
      const send = (r: RecordSummary) => {
        try {
          controller.enqueue(encoder.encode(`event: record\ndata: ${JSON.stringify(r)}\n\n`));
        } catch { /* closed */ }
      };
      unsubscribe = store.subscribe((r: RecordSummary) => {
        if (!filtered) return send(r);
        if (pending >= MAX_PENDING) return;
        pending++;
        chain = chain.then(async () => {
          const rec = await store.get(r.id).catch(() => null);
          if (rec && test(rec)) send(r);
        }).finally(() => pending--);
      });
      keepAlive = setInterval(() => {
        try {
          controller.enqueue(encoder.encode(": ping\n\n"));
        } catch { /* closed */ }
      }, 15_000);
    },
    cancel() {
      unsubscribe();
      clearInterval(keepAlive);
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}
