import type { RecorderConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { DialError } from "../net/dial.ts";
import { HttpPoster } from "../net/http_client.ts";
import { EndpointUnreachable, QueuedRecorder } from "./queued_recorder.ts";

/**
 * GOST's `http` recorder: each record is POSTed as it is (JSON body), as GOST and the
 * gost-plugins collector expect; a status of 400 or more is a failure. The POSTs of a batch
 * (up to 100 waiting records) are pipelined on one kept-alive connection: sent one at a time,
 * waiting for each answer, they could not keep up with the proxy (at ~10,000 requests/s on
 * loopback 3 of 4 records were dropped from a full queue).
 */
export class HttpRecorder extends QueuedRecorder {
  readonly kind = "http";
  readonly #poster: HttpPoster;

  constructor(config: Extract<RecorderConfig, { kind: "http" }>, log: Logger) {
    super(config.name, config.queueSize, log, 100);
    this.#poster = new HttpPoster(config.http.url, config.http.timeoutMs, config.http.header);
  }

  protected async deliver(batch: string[]): Promise<number> {
    const { statuses, error } = await this.#poster.postAll(batch);
    // A status of 400 or more is the endpoint refusing the record: dropped, not resent.
    const refused = statuses.filter((status) => status >= 400).length;
    if (refused > 0) {
      this.log.debug("records refused", { recorder: this.name, refused, statuses });
    }
    if (error instanceof DialError) throw new EndpointUnreachable(statuses.length, error, refused);
    if (error) {
      this.log.debug("records not delivered", {
        recorder: this.name,
        error,
        count: batch.length - statuses.length,
      });
    }
    return refused + batch.length - statuses.length;
  }

  protected shutdown(): void {
    this.#poster.reset();
  }
}
