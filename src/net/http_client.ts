import { MessageReader } from "../sniff/http1/message_reader.ts";
import { Http1Parser } from "../sniff/http1/parser.ts";
import { withDeadline } from "./buffered_conn.ts";
import { DialError, dialTcp } from "./dial.ts";
import { closeQuietly, type Stream, writeAll } from "./stream.ts";

const encoder = new TextEncoder();

/**
 * A minimal HTTP/1.1 client on one kept-alive connection, for recorders and the collector.
 * It never consults HTTP_PROXY/HTTPS_PROXY (records must not loop through a proxy, least
 * of all this one), and it reuses the proxy's own parser.
 */
export class HttpPoster {
  #conn: Stream | null = null;
  #reader: MessageReader | null = null;
  readonly #url: URL;

  constructor(url: string, readonly timeoutMs: number, readonly headers: Record<string, string>) {
    this.#url = new URL(url);
  }

  async #connect(): Promise<void> {
    const u = this.#url;
    const secure = u.protocol === "https:";
    const port = Number(u.port || (secure ? 443 : 80));
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    const target = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    // Either way a failure to connect is a DialError: the recorder holds its records then.
    const conn: Stream = secure
      ? await Deno.connectTls({ hostname: host, port }).catch((e) => {
        throw new DialError(target, e, false);
      })
      : await dialTcp(target, this.timeoutMs);
    this.#conn = conn;
    this.#reader = new MessageReader(conn, new Http1Parser("response"));
  }

  /**
   * POSTs `body`; resolves with the status. Retries once on a stale kept-alive connection.
   * A DialError means nothing was sent.
   */
  async post(body: string): Promise<number> {
    for (let attempt = 0;; attempt++) {
      const reused = this.#conn !== null;
      try {
        return await withDeadline(
          this.timeoutMs,
          "recorder response",
          () => this.#once(body),
          () => this.reset(),
        );
      } catch (e) {
        this.reset();
        if (!reused || attempt > 0) throw e;
      }
    }
  }

  async #once(body: string): Promise<number> {
    if (!this.#conn) await this.#connect();
    const payload = encoder.encode(body);
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      ...this.headers,
    };
    let head =
      `POST ${this.#url.pathname}${this.#url.search} HTTP/1.1\r\nHost: ${this.#url.host}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    head += `Content-Length: ${payload.length}\r\n\r\n`;
    const h = encoder.encode(head);
    const msg = new Uint8Array(h.length + payload.length);
    msg.set(h);
    msg.set(payload, h.length);
    await writeAll(this.#conn!, msg);
    this.#reader!.parser.expectResponseTo("POST");
    let status = 0;
    let close = false;
    for (;;) {
      const ev = await this.#reader!.next();
      if (!ev) throw new Error("recorder endpoint closed the connection");
      if (ev.type === "head") {
        if (ev.head.status >= 100 && ev.head.status < 200) continue;
        status = ev.head.status;
        close = ev.framing === "close" ||
          ev.head.headers.some(([n, v]) => n.toLowerCase() === "connection" && /close/i.test(v));
      } else if (ev.type === "end" && status) break;
    }
    if (close) this.reset();
    return status;
  }

  reset(): void {
    closeQuietly(this.#conn);
    this.#conn = null;
    this.#reader = null;
  }
}
