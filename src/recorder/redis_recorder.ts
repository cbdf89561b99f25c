import type { RecorderConfig } from "../config/types.ts";
import type { Logger } from "../util/log.ts";
import { withDeadline } from "../net/buffered_conn.ts";
import { CONFIGURED_TARGET, dialTcp } from "../net/dial.ts";
import { closeQuietly, writeAll } from "../net/stream.ts";
import { EndpointUnreachable, QueuedRecorder } from "./queued_recorder.ts";
import { concatBytes } from "../util/bytes.ts";

const encoder = new TextEncoder();

/** A command in RESP: `*<n>\r\n` then `$<len>\r\n<bytes>\r\n` per argument. */
export function encodeCommand(args: string[]): Uint8Array {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${encoder.encode(a).length}\r\n${a}\r\n`;
  return encoder.encode(out);
}

/**
 * GOST's `redis` recorder: `set` → SADD key record, `list` → LPUSH key record,
 * `sset` → ZADD key INCR 1 record (a counter per distinct record). A batch goes out as one
 * pipeline on a kept connection (AUTH and SELECT sent when it opens).
 */
export class RedisRecorder extends QueuedRecorder {
  readonly kind = "redis";
  #conn: Deno.TcpConn | null = null;
  #pending = "";
  readonly #buf = new Uint8Array(64 * 1024);

  constructor(readonly config: Extract<RecorderConfig, { kind: "redis" }>, log: Logger) {
    super(config.name, config.queueSize, log, 500);
  }

  #command(record: string): string[] {
    const { key, type } = this.config.redis;
    if (type === "list") return ["LPUSH", key, record];
    if (type === "sset") return ["ZADD", key, "INCR", "1", record];
    return ["SADD", key, record];
  }

  async #connect(): Promise<Deno.TcpConn> {
    if (this.#conn) return this.#conn;
    const r = this.config.redis;
    const conn = await dialTcp(r.addr, 5000, CONFIGURED_TARGET).catch((e) => {
      throw new EndpointUnreachable(0, e);
    });
    this.#conn = conn;
    this.#pending = "";
    const setup: string[][] = [];
    if (r.password) {
      setup.push(r.username ? ["AUTH", r.username, r.password] : ["AUTH", r.password]);
    }
    if (r.db) setup.push(["SELECT", String(r.db)]);
    if (setup.length) {
      await writeAll(conn, concatBytes(setup.map(encodeCommand)));
      const replies = await this.#readReplies(setup.length);
      const bad = replies.find((x) => x.startsWith("-"));
      if (bad) throw new Error(`redis: ${bad.slice(1)}`);
    }
    return conn;
  }

  /** Reads `n` replies; each is returned as its first line (`+OK`, `:1`, `-ERR …`). */
  async #readReplies(n: number): Promise<string[]> {
    const out: string[] = [];
    while (out.length < n) {
      const nl = this.#pending.indexOf("\r\n");
      if (nl >= 0) {
        const line = this.#pending.slice(0, nl);
        this.#pending = this.#pending.slice(nl + 2);
        out.push(line);
        continue;
      }
      const read = await this.#conn!.read(this.#buf);
      if (read === null) throw new Error("redis closed the connection");
      this.#pending += new TextDecoder().decode(this.#buf.subarray(0, read));
    }
    return out;
  }

  protected async deliver(batch: string[]): Promise<number> {
    try {
      return await withDeadline(10_000, "redis replies", async () => {
        const conn = await this.#connect();
        await writeAll(conn, concatBytes(batch.map((r) => encodeCommand(this.#command(r)))));
        const replies = await this.#readReplies(batch.length);
        return replies.filter((r) => r.startsWith("-")).length;
      }, () => this.#reset());
    } catch (e) {
      this.#reset();
      throw e;
    }
  }

  #reset() {
    closeQuietly(this.#conn);
    this.#conn = null;
  }

  protected shutdown(): void {
    this.#reset();
  }
}
