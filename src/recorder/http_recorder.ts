import type { RecorderConfig } from "../config/types.ts";
import type { Logger } from "../util/log.ts";
import { DialError } from "../net/dial.ts";
import { HttpPoster } from "./http_client.ts";
import { EndpointUnreachable, QueuedRecorder } from "./queued_recorder.ts";
import { jsonArrayBatches } from "./json_array_batches.ts";

/**
 * Waiting records one delivery takes, at least: 100 pipelined POSTs of one record each, or
 * arrays of `batch` records (a delivery takes `batch` records when that is more).
 */
const POSTS_PER_DELIVERY = 100;

/**
 * GOST's `http` recorder: each record is POSTed as it is (JSON body), as GOST and the
 * gost-plugins collector expect; a status of 400 or more is a failure. The POSTs of one
 * delivery (up to 100 waiting records) are pipelined on one kept-alive connection: sent one
 * at a time, waiting for each answer, they could not keep up with the proxy (at ~10,000
 * requests/s on loopback 3 of 4 records were dropped from a full queue).
 *
 * With `batch: N` (snoop's, not GOST's) a POST carries a JSON array of up to N records, so
 * the endpoint parses one request per N records instead of one per record; `snoop collect`
 * takes either body. A status refers to every record of its POST.
 */
export class HttpRecorder extends QueuedRecorder {
  readonly kind = "http";
  readonly #poster: HttpPoster;
  readonly #recordsPerPost: number;

  constructor(config: Extract<RecorderConfig, { kind: "http" }>, log: Logger) {
    const { batch } = config.http;
    super(config.name, config.queueSize, log, Math.max(POSTS_PER_DELIVERY, batch));
    this.#recordsPerPost = batch;
    this.#poster = new HttpPoster(config.http.url, config.http.timeoutMs, config.http.header);
  }

  protected async deliver(records: string[]): Promise<number> {
    // With one record per POST a body is a record and each count is 1 (no second array).
    const { bodies, counts } = this.#recordsPerPost > 0
      ? jsonArrayBatches(records, this.#recordsPerPost)
      : { bodies: records, counts: null };
    const { statuses, error } = await this.#poster.postAll(bodies);
    let answered = 0, refused = 0;
    for (let i = 0; i < statuses.length; i++) {
      const n = counts ? counts[i] : 1;
      answered += n;
      // A status of 400 or more is the endpoint refusing the records: dropped, not resent.
      if (statuses[i] >= 400) refused += n;
    }
    // 503 is "not now" (`snoop collect` answers it when its store's queue is full, having
    // taken none of that POST): the records from the first 503 on wait in the queue and go
    // again, as for an endpoint that cannot be reached, unless a later POST was taken, which
    // sending them again could store twice.
    const busy = statuses.indexOf(503);
    if (busy >= 0 && statuses.slice(busy).every((s) => s === 503)) {
      let handled = 0, refusedBefore = 0;
      for (let i = 0; i < busy; i++) {
        const n = counts ? counts[i] : 1;
        handled += n;
        if (statuses[i] >= 400) refusedBefore += n;
      }
      throw new EndpointUnreachable(handled, new Error("the endpoint answered 503"), refusedBefore);
    }
    if (refused > 0) {
      this.log.debug("records refused", { recorder: this.name, refused, statuses });
    }
    if (error instanceof DialError) throw new EndpointUnreachable(answered, error, refused);
    if (error) {
      this.log.debug("records not delivered", {
        recorder: this.name,
        error,
        count: records.length - answered,
      });
    }
    return refused + records.length - answered;
  }

  protected shutdown(): void {
    this.#poster.reset();
  }
}
