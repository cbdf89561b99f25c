import { timingSafeEqual } from "node:crypto";
import { toHar } from "../store/har.ts";
import { filterFromParams } from "../store/filter.ts";
import type { RecordQueries, RecordSummary } from "../store/summary.ts";
import { UI_HTML } from "./ui_html.ts";
import { bodyResponse } from "./body_response.ts";

/**
 * The web UI and its JSON API as one `fetch(Request) → Response` function (Hono's model:
 * tests call it without a socket). Routes:
 *
 *   GET /                              the UI
 *   GET /api/records?filters&limit&before     newest first, paged by id
 *   GET /api/records/:id               one record (GOST JSON)
 *   GET /api/records/:id/body/:side    a body decoded (gzip, deflate, br, zstd), `side` = request|response
 *   GET /api/sessions/:sid             every record of one connection
 *   GET /api/stats?filters             per-minute by status class, top hosts, protocols, error rate
 *   GET /api/har?filters               HAR 1.2 of the filtered HTTP records
 *   GET /api/events                    server-sent events: each new record's summary
 *   GET /ca.crt                        the CA certificate, when one is configured
 *   GET /metrics                       Prometheus text
 */
export interface WebAppOptions {
  store: RecordQueries;
  token?: string;
  caFile?: string;
  metrics?: () => string;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export function createWebApp(opts: WebAppOptions): (req: Request) => Promise<Response> {
  const { store } = opts;
  const tokenBytes = opts.token ? new TextEncoder().encode(opts.token) : null;

  const authorized = (req: Request): boolean => {
    if (!tokenBytes) return true;
    const url = new URL(req.url);
    const given = url.searchParams.get("token") ??
      req.headers.get("authorization")?.replace(/^Bearer\s+/i, "") ??
      /(?:^|;\s*)snoop_token=([^;]+)/.exec(req.headers.get("cookie") ?? "")?.[1] ?? "";
    const g = new TextEncoder().encode(given);
    return g.length === tokenBytes.length && timingSafeEqual(g, tokenBytes);
  };

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (!authorized(req)) {
      return json({ error: "a token is required (?token= or Authorization: Bearer)" }, 401);
    }
    if (req.method !== "GET") return json({ error: "only GET" }, 405);
    const path = url.pathname;
    try {
      if (path === "/") {
        const headers: Record<string, string> = { "content-type": "text/html; charset=utf-8" };
        // Keep the token for the page's own API calls.
        if (opts.token) {
          headers["set-cookie"] = `snoop_token=${opts.token}; HttpOnly; SameSite=Strict; Path=/`;
        }
        return new Response(UI_HTML, { headers });
      }
      if (path === "/api/records") {
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
      }
      let m = /^\/api\/records\/(\d+)$/.exec(path);
      if (m) {
        const rec = await store.get(Number(m[1]));
        return rec ? json(rec) : json({ error: "no such record" }, 404);
      }
      m = /^\/api\/records\/(\d+)\/body\/(request|response)$/.exec(path);
      if (m) return bodyResponse(await store.get(Number(m[1])), m[2] as "request" | "response");
      m = /^\/api\/sessions\/([0-9a-v]{20})$/.exec(path);
      if (m) return json(await store.bySid(m[1]));
      if (path === "/api/stats") return json(await store.stats(filterFromParams(url.searchParams)));
      if (path === "/api/har") {
        const har = toHar(
          (await store.full(filterFromParams(url.searchParams))).map((r) => r.json),
        );
        return new Response(JSON.stringify(har, null, 1), {
          headers: {
            "content-type": "application/json",
            "content-disposition": 'attachment; filename="snoop.har"',
          },
        });
      }
      if (path === "/api/events") return events(store, req.signal);
      if (path === "/ca.crt") {
        if (!opts.caFile) return json({ error: "no CA configured" }, 404);
        return new Response(await Deno.readFile(opts.caFile), {
          headers: {
            "content-type": "application/x-x509-ca-cert",
            "content-disposition": 'attachment; filename="snoop-ca.crt"',
          },
        });
      }
      if (path === "/metrics" && opts.metrics) {
        return new Response(opts.metrics(), {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      }
      return json({ error: "not found" }, 404);
    } catch (e) {
      if (e instanceof RangeError) return json({ error: e.message }, 400);
      throw e;
    }
  };
}

/** Server-sent events of new record summaries, until the client goes away. */
function events(store: RecordQueries, signal: AbortSignal): Response {
  const encoder = new TextEncoder();
  let unsubscribe = () => {};
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(": snoop live records\n\n"));
      unsubscribe = store.subscribe((r: RecordSummary) => {
        try {
          controller.enqueue(encoder.encode(`event: record\ndata: ${JSON.stringify(r)}\n\n`));
        } catch { /* closed */ }
      });
      keepAlive = setInterval(() => {
        try {
          controller.enqueue(encoder.encode(": ping\n\n"));
        } catch { /* closed */ }
      }, 15_000);
      signal.addEventListener("abort", () => {
        unsubscribe();
        clearInterval(keepAlive);
        try {
          controller.close();
        } catch { /* closed */ }
      });
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
