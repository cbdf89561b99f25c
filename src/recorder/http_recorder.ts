import type { RecorderConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { DialError } from "../net/dial.ts";
import { HttpPoster } from "../net/http_client.ts";
import { EndpointUnreachable, QueuedRecorder } from "./queued_recorder.ts";

/**
 * GOST's `http` recorder: each record is POSTed as it is (JSON body), as GOST and the
 * gost-plugins collector expect; a status of 400 or more is a failure.
 */
export class HttpRecorder extends QueuedRecorder {
  readonly kind = "http";
  readonly #poster: HttpPoster;

  constructor(config: Extract<RecorderConfig, { kind: "http" }>, log: Logger) {
    super(config.name, config.queueSize, log, 64);
    this.#poster = new HttpPoster(config.http.url, config.http.timeoutMs, config.http.header);
  }

  protected async deliver(batch: string[]): Promise<number> {
    let failed = 0;
    for (const [i, record] of batch.entries()) {
      try {
        const status = await this.#poster.post(record);
        if (status >= 400) throw new Error(`recorder endpoint answered ${status}`);
      } catch (e) {
        if (e instanceof DialError) throw new EndpointUnreachable(i, e);
        failed++;
        this.log.debug("record not delivered", { recorder: this.name, error: e });
      }
    }
    return failed;
  }

  protected shutdown(): void {
    this.#poster.reset();
  }
}
