import { DialError } from "../../net/dial.ts";
import { type Http1ParseError, Http1Truncated } from "../../protocol/http1/parser.ts";
import type { ConnContext } from "../../tunnel/conn_context.ts";

/** Why the forward proxy gave up on a request, with the status the client gets. */
export class ProxyFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: [string, string][] = [],
    /** False once the upstream answered: the request is then not sent again. */
    readonly retryable = true,
  ) {
    super(message);
  }
}

/**
 * Counts a malformed or oversized message (from the client, or the upstream's response) in
 * `snoop_limit_hits_total`; a peer that closed mid-message is a disconnect and not counted.
 */
export function countParseError(
  ctx: ConnContext,
  e: Http1ParseError,
  from: "client" | "upstream" = "client",
) {
  if (e instanceof Http1Truncated) return;
  const oversized = e.status === 414 || e.status === 431;
  ctx.sink.limited(
    `${from === "upstream" ? "upstream" : "http"}-${oversized ? "head-size" : "malformed"}`,
  );
}

/** 403 for a destination the egress list denies, 504 for a dial deadline, else 502. */
export function statusForDialError(e: unknown): number {
  if (e instanceof DialError && e.denied) return 403;
  return e instanceof DialError && e.timedOut ? 504 : 502;
}
