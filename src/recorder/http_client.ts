import { Buffer } from "node:buffer";
import { MessageReader } from "../protocol/http1/message_reader.ts";
import { hasToken, Http1Parser } from "../protocol/http1/parser.ts";
import { ReadTimeout, withDeadline } from "../net/buffered_conn.ts";
import { CONFIGURED_TARGET, DialError, dialTcp } from "../net/dial.ts";
import { closeQuietly, type Stream, writeAll } from "../net/stream.ts";

const encoder = new TextEncoder();

/**
 * A minimal HTTP/1.1 client on one kept-alive connection, for recorders and the collector:
 * POSTs one at a time (`post`) or pipelined (`postAll`). It never consults
 * HTTP_PROXY/HTTPS_PROXY (records must not loop through a proxy, least of all this one), and
 * it reuses the proxy's own parser.
 */
export class HttpPoster {
  #conn: Stream | null = null;
  #reader: MessageReader | null = null;
  readonly #url: URL;
  /** The request head up to the Content-Length value: the same for every POST. */
  readonly #head: string;

  constructor(url: string, readonly timeoutMs: number, readonly headers: Record<string, string>) {
    const u = this.#url = new URL(url);
    let head = `POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n`;
    for (const [k, v] of Object.entries({ "Content-Type": "application/json", ...headers })) {
      head += `${k}: ${v}\r\n`;
    }
    this.#head = head + "Content-Length: ";
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
      : await dialTcp(target, this.timeoutMs, CONFIGURED_TARGET);
    this.#conn = conn;
    this.#reader = new MessageReader(conn, new Http1Parser("response"));
  }

  /**
   * POSTs `body`; resolves with the status. Retries once on a stale kept-alive connection.
   * A DialError means nothing was sent.
   */
  async post(body: string): Promise<number> {
    const { statuses, error } = await this.postAll([body]);
    if (statuses.length === 0) throw error;
    return statuses[0];
  }

  /**
   * POSTs every body, pipelined: all requests go out in one write and the responses are
   * read in order (RFC 9112 §9.3.2), so a batch costs one write, not one per body. What an
   * answer does not cover is sent again on a new connection: after a response that says
   * `Connection: close` (RFC 9112 §9.6: the server processed nothing after it), and after a
   * connection that ended with requests unanswered (at-least-once: a server that processed
   * a request and died before answering sees it twice). `statuses[i]` answers `bodies[i]`
   * for the first `statuses.length` bodies; `error` says why the rest got no answer (a
   * DialError: nothing of the rest was sent; a timeout: they may have arrived).
   */
  async postAll(bodies: string[]): Promise<{ statuses: number[]; error?: unknown }> {
    const statuses: number[] = [];
    let retriedStale = false;
    while (statuses.length < bodies.length) {
      const reused = this.#conn !== null;
      const before = statuses.length;
      try {
        await withDeadline(
          this.timeoutMs,
          "recorder response",
          () => this.#exchange(bodies.slice(before), statuses),
          () => this.reset(),
        );
      } catch (e) {
        this.reset();
        if (e instanceof ReadTimeout || e instanceof DialError) return { statuses, error: e };
        if (statuses.length > before) continue; // the rest on a new connection
        // A kept-alive connection the endpoint had closed answers nothing: one new try.
        if (reused && !retriedStale) {
          retriedStale = true;
          continue;
        }
        return { statuses, error: e };
      }
    }
    return { statuses };
  }

  /**
   * Sends `bodies` on the connection and appends their answers to `statuses`, until all are
   * answered or one says `Connection: close` (the connection is then dropped and the caller
   * goes on with the rest). Throws when the connection ends first.
   */
  async #exchange(bodies: string[], statuses: number[]): Promise<void> {
    if (!this.#conn) await this.#connect();
    const conn = this.#conn!, reader = this.#reader!;
    await writeAll(conn, this.#requests(bodies));
    for (let i = 0; i < bodies.length; i++) reader.parser.expectResponseTo("POST");
    let status = 0;
    let close = false;
    for (let answered = 0; answered < bodies.length;) {
      // Answers come many per read: what is parsed already is taken without an await.
      const ev = reader.parser.next() ?? await reader.next();
      if (!ev) throw new Error("recorder endpoint closed the connection");
      if (ev.type === "head") {
        if (ev.head.status >= 100 && ev.head.status < 200) continue;
        status = ev.head.status;
        close = ev.framing === "close" || hasToken(ev.head, "connection", "close");
      } else if (ev.type === "end" && status) {
        statuses.push(status);
        answered++;
        status = 0;
        if (close) return this.reset();
      }
    }
  }

  /** The POST requests for `bodies`, heads and bodies, encoded at once (one allocation). */
  #requests(bodies: string[]): Uint8Array {
    let text = "";
    for (const body of bodies) {
      // Content-Length in UTF-8 bytes without encoding (a lone surrogate counts 3, as the
      // encoder writes U+FFFD), much faster than a regex ASCII test.
      text += `${this.#head}${Buffer.byteLength(body, "utf8")}\r\n\r\n${body}`;
    }
    return encoder.encode(text);
  }

  reset(): void {
    closeQuietly(this.#conn);
    this.#conn = null;
    this.#reader = null;
  }
}
