import type { RecorderConfig } from "../config/types.ts";
import { ConfigError } from "../config/config_error.ts";
import { compileFilter } from "../store/filter_conditions.ts";
import { recordMatcher } from "../store/filter_match.ts";
import type { Logger } from "../util/log.ts";
import { FileRecorder } from "./file_recorder.ts";
import { HttpRecorder } from "./http_recorder.ts";
import type { Recorder } from "./recorder.ts";
import { RedisRecorder } from "./redis_recorder.ts";
import { TcpRecorder } from "./tcp_recorder.ts";

/**
 * Recorder kinds by the key that selects them in `recorders:` entries. The store loads
 * when configured: node:sqlite is idle RSS a proxy without a store need not carry.
 */
export async function createRecorder(config: RecorderConfig, log: Logger): Promise<Recorder> {
  const accepts = config.filter ? recordFilter(config.filter) : undefined;
  const recorder = await makeRecorder(config, log);
  if (accepts) recorder.accepts = accepts;
  return recorder;
}

/** A recorder's `filter:` compiled; a bad expression is a configuration error at its place. */
function recordFilter(filter: NonNullable<RecorderConfig["filter"]>) {
  try {
    return recordMatcher(compileFilter(filter.expr));
  } catch (e) {
    if (e instanceof RangeError) throw new ConfigError(filter.where, `filter ${e.message}`);
    throw e;
  }
}

async function makeRecorder(config: RecorderConfig, log: Logger): Promise<Recorder> {
  const scoped = log.child(`recorder:${config.name}`);
  switch (config.kind) {
    case "http":
      return new HttpRecorder(config, scoped);
    case "file":
      return new FileRecorder(config, scoped);
    case "tcp":
      return new TcpRecorder(config, scoped);
    case "redis":
      return new RedisRecorder(config, scoped);
    case "store": {
      const { StoreRecorder } = await import("./store_recorder.ts");
      return new StoreRecorder(
        config.name,
        config.queueSize,
        config.store.path,
        {
          maxAgeMs: config.store.maxAgeMs,
          maxRecords: config.store.maxRecords,
        },
        scoped,
        undefined,
        { indexBodies: config.store.indexBodies },
      );
    }
  }
}

export type { Recorder } from "./recorder.ts";
