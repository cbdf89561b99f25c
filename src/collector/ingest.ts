import type { Recorder } from "../recorder/recorder.ts";

/**
 * The collector's POST side: a body that GOST's (and snoop's) `http` recorder sends — one
 * record's JSON, or snoop's JSON array of them — goes to the store and, when set, to Loki.
 */
export interface IngestOptions {
  token?: string;
  store: Recorder;
  loki?: Recorder;
  /** Records accepted, and requests refused as malformed. */
  counts: { accepted: number; rejected: number };
}

/** Largest POST body accepted: a record with two 1 MiB bodies in base64 fits easily. */
const MAX_BODY = 16 * 1024 * 1024;

const reply = (status: number, error?: string) =>
  new Response(error ? JSON.stringify({ error }) : null, {
    status,
    headers: error ? { "content-type": "application/json" } : {},
  });

/** The handler for the collector's POST and PUT requests. */
export function createIngest(opts: IngestOptions): (req: Request) => Promise<Response> {
  const { store, loki, counts } = opts;
  return async (req: Request): Promise<Response> => {
    if (opts.token && req.headers.get("authorization") !== `Bearer ${opts.token}`) {
      return reply(401, "a token is required (Authorization: Bearer)");
    }
    const len = Number(req.headers.get("content-length") ?? 0);
    if (len > MAX_BODY) return reply(413, `body larger than ${MAX_BODY} bytes`);
    const text = await req.text();
    if (text.length > MAX_BODY) return reply(413, `body larger than ${MAX_BODY} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      counts.rejected++;
      return reply(400, `not JSON: ${(e as Error).message}`);
    }
    const records = Array.isArray(parsed) ? parsed : [parsed];
    if (!records.every((r) => r !== null && typeof r === "object" && !Array.isArray(r))) {
      counts.rejected++;
      return reply(400, "expected a record object (or a list of them)");
    }
    for (const r of records as Record<string, unknown>[]) {
      // Tunnel entrypoint redirects are not traffic (gost-plugins skips them too).
      if (r.redirect) continue;
      const json = JSON.stringify(r);
      store.record(json);
      loki?.record(json);
      counts.accepted++;
    }
    return reply(200);
  };
}
