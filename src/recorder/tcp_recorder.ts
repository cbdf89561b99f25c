import type { RecorderConfig } from "../config/types.ts";
import type { Logger } from "../util/log.ts";
import { CONFIGURED_TARGET, dialTcp } from "../net/dial.ts";
import { writeAll } from "../net/stream.ts";
import { EndpointUnreachable, QueuedRecorder } from "./queued_recorder.ts";

const encoder = new TextEncoder();

/**
 * GOST's `tcp` recorder: a new connection per record carrying exactly the record, then
 * closed, so a reader takes "everything until EOF" as one record (GOST's framing).
 */
export class TcpRecorder extends QueuedRecorder {
  readonly kind = "tcp";

  constructor(readonly config: Extract<RecorderConfig, { kind: "tcp" }>, log: Logger) {
    super(config.name, config.queueSize, log, 64);
  }

  protected async deliver(batch: string[]): Promise<number> {
    let failed = 0;
    for (const [i, record] of batch.entries()) {
      const conn = await dialTcp(this.config.tcp.addr, this.config.tcp.timeoutMs, CONFIGURED_TARGET)
        .catch((e) => {
          throw new EndpointUnreachable(i, e);
        });
      try {
        await writeAll(conn, encoder.encode(record));
      } catch (e) {
        failed++;
        this.log.debug("record not delivered", { recorder: this.name, error: e });
      } finally {
        conn.close();
      }
    }
    return failed;
  }

  protected shutdown(): void {}
}
