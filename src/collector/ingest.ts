import type { QueuedRecorder } from "../recorder/queued_recorder.ts";
import type { Recorder } from "../recorder/recorder.ts";
import { hostAllowed, tokenMatches } from "../web/access_policy.ts";
import { outline } from "./json_elements.ts";
import { recordProblem } from "./record_shape.ts";

/**
 * The collector's POST side: the body that GOST's (and snoop's) `http` recorder sends — one
 * record's JSON, or snoop's JSON array of them, `Content-Type: application/json` — goes to
 * the store and, when set, to Loki.
 *
 * Only recorders are answered. A web page the user visits can make the browser POST to a
 * loopback port, but not with its own Host name on the collector's list (DNS rebinding), not
 * without `Origin` and `Sec-Fetch-Site` saying where it comes from, and not with a JSON
 * content type unless the collector agreed to a CORS preflight, which it never does (a
 * preflight's OPTIONS goes to the GET side, which grants no CORS).
 *
 * The checks are the web side's (`web/access_policy.ts`) but stricter, and on every path:
 * records are posted to any path, `/` included, which the web side lets browsers navigate to,
 * and no path is open without the token.
 */
export interface IngestOptions {
  /** `Authorization: Bearer <token>` required when set. */
  token?: string;
  /**
   * `Host` values (`name` or `name:port`, lower case) the collector answers to besides the
   * loopback names; null takes any (a collector beyond loopback, which a token guards).
   */
  hosts: Set<string> | null;
  store: QueuedRecorder;
  loki?: Recorder;
  counts: IngestCounts;
  /** Largest body, in bytes. */
  maxBody?: number;
  /** Most records in one body. */
  maxRecords?: number;
}

export interface IngestCounts {
  /** Records queued for the store. */
  accepted: number;
  /** Records (or bodies that held none) refused as malformed. */
  rejected: number;
  /** Records answered 503 because the store's queue had no room for them. */
  deferred: number;
  /** Requests refused before their body was read: Host, origin, token or content type. */
  refused: number;
}

/** Largest POST body accepted: a record with two 1 MiB bodies in base64 fits easily. */
export const MAX_BODY = 16 * 1024 * 1024;
/** Most records one POST may carry; snoop's recorder sends at most 1 MiB per POST anyway. */
export const MAX_RECORDS = 10_000;
/**
 * Deepest nesting a POST may have: a list of records holding `http.request.header` lists is
 * five levels; extra fields get room, a stack-filling nest does not.
 */
export const MAX_DEPTH = 32;

const json = (status: number, body: Record<string, unknown>, headers: HeadersInit = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
const refuse = (status: number, error: string) => json(status, { error });

/** Whether a request that reached the collector may post records to it, or why not. */
function accessProblem(req: Request, hosts: Set<string> | null): Response | null {
  const host = (req.headers.get("host") ?? "").toLowerCase();
  if (hosts && !hostAllowed(host, { hosts, token: null })) {
    return refuse(421, `this collector does not answer to the host name "${host.slice(0, 100)}"`);
  }
  // A browser says where a request comes from; recorders say nothing. Only the collector's
  // own pages could pass, and none of them posts records.
  const origin = req.headers.get("origin");
  if (origin !== null && origin !== `http://${host}`) {
    return refuse(403, "records are not taken from web pages of other origins");
  }
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    return refuse(403, "records are not taken from cross-site requests");
  }
  return null;
}

/** The media type of a Content-Type value, lower case, without its parameters. */
const mediaType = (v: string | null) => (v ?? "").split(";")[0].trim().toLowerCase();

/**
 * The body, read chunk by chunk and given up (null) as soon as it grows past `max` bytes, so
 * a chunked body without a Content-Length is never held whole either.
 */
async function readCapped(req: Request, max: number): Promise<Uint8Array | null> {
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** How many records a recorder dropped for want of room. */
const queueFullDrops = (r: QueuedRecorder) => r.stats().dropped.queue_full ?? 0;

/**
 * The handler for the collector's POST and PUT requests. It answers JSON: `stored` (records
 * taken into the store's queue), `rejected` (of the wrong shape; the first one's path is the
 * `error`, and the status 400), `ignored` (tunnel redirects), and with a 503 `deferred`.
 */
export function createIngest(opts: IngestOptions): (req: Request) => Promise<Response> {
  const { store, loki, counts, hosts } = opts;
  const maxBody = opts.maxBody ?? MAX_BODY, maxRecords = opts.maxRecords ?? MAX_RECORDS;
  const tooBig = () => {
    counts.rejected++;
    return refuse(413, `body larger than ${maxBody} bytes`);
  };
  const refusalOf = (req: Request): Response | null => {
    const denied = accessProblem(req, hosts);
    if (denied) return denied;
    if (opts.token) {
      // Compared in constant time (over digests): how much of a guess is right does not show
      // in how long the answer takes.
      const auth = req.headers.get("authorization") ?? "";
      const given = /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1] ?? "";
      if (!tokenMatches(given, opts.token)) {
        return refuse(401, "a token is required (Authorization: Bearer)");
      }
    }
    if (mediaType(req.headers.get("content-type")) !== "application/json") {
      return refuse(415, "records are posted as Content-Type: application/json");
    }
    return null;
  };
  return async (req: Request): Promise<Response> => {
    const refusal = refusalOf(req);
    if (refusal) {
      counts.refused++;
      await req.body?.cancel().catch(() => {});
      return refusal;
    }
    const declared = req.headers.get("content-length");
    if (declared !== null && !(Number(declared) <= maxBody)) return tooBig();
    const bytes = await readCapped(req, maxBody);
    if (bytes === null) return tooBig();
    // One pass over the bytes for both bounds; it stops at the first one crossed.
    const shape = outline(bytes, maxRecords, MAX_DEPTH);
    if (shape.elements > maxRecords) {
      counts.rejected++;
      return refuse(413, `more than ${maxRecords} records in one POST: send them in smaller ones`);
    }
    if (shape.tooDeep) {
      counts.rejected++;
      return refuse(400, `JSON nested deeper than ${MAX_DEPTH} levels is not a record`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (e) {
      counts.rejected++;
      return refuse(400, `not JSON in UTF-8: ${(e as Error).message}`);
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    // The bytes' count can be short of the parsed one only for JSON it misread; hold to the cap.
    if (list.length > maxRecords) {
      counts.rejected++;
      return refuse(413, `more than ${maxRecords} records in one POST: send them in smaller ones`);
    }
    const good: string[] = [];
    let firstProblem: string | null = null, rejected = 0, ignored = 0;
    for (let i = 0; i < list.length; i++) {
      const problem = recordProblem(list[i], `records[${i}]`);
      if (problem) {
        firstProblem ??= problem;
        rejected++;
        continue;
      }
      // Tunnel entrypoint redirects are not traffic (gost-plugins skips them too).
      if ((list[i] as Record<string, unknown>).redirect) ignored++;
      else good.push(JSON.stringify(list[i]));
    }
    counts.rejected += rejected;
    // All of a POST's good records are queued, or none: a peer that sends the POST again after
    // a 503 then stores each record once.
    if (!store.hasRoom(good.length, good.reduce((n, r) => n + r.length, 0))) {
      counts.deferred += good.length;
      return json(503, {
        error: "the store's queue is full: send the records again shortly",
        stored: 0,
        rejected,
        deferred: good.length,
      }, { "retry-after": "1" });
    }
    const droppedBefore = queueFullDrops(store);
    for (const r of good) {
      store.record(r);
      loki?.record(r);
    }
    // Should the queue still have dropped some (it checked room above), they were not stored.
    const dropped = queueFullDrops(store) - droppedBefore;
    counts.accepted += good.length - dropped;
    if (dropped > 0) {
      counts.deferred += dropped;
      return json(503, {
        error: "the store's queue is full: send the records again shortly",
        stored: good.length - dropped,
        rejected,
        deferred: dropped,
      }, { "retry-after": "1" });
    }
    const answer = { stored: good.length, rejected, ignored };
    return firstProblem ? json(400, { error: firstProblem, ...answer }) : json(200, answer);
  };
}
