import type { BodyCaptureOptions } from "../../recorder/sink.ts";
import { monotonicMs } from "../../record/time.ts";
import { endExchange, type HttpExchange, newExchange } from "../exchange.ts";
import {
  headerValue,
  type Http1Head,
  Http1ParseError,
  Http1Parser,
} from "../../protocol/http1/parser.ts";

export interface Http1SnifferEvents {
  /** A request and its response are complete (or ended with an error). */
  exchange(ex: HttpExchange): void;
  /** The connection switched protocols after `ex` (status 101, or CONNECT 2xx). */
  switched(ex: HttpExchange, upgrade: string): void;
  /** Bytes after the switch, per direction. */
  tunnel(side: "client" | "server", bytes: Uint8Array): void;
  /** The final response head of `ex` arrived (its status and headers are set). */
  responseHead?(ex: HttpExchange): void;
  /** Bytes of `ex`'s response body, after chunked decoding. */
  responseBody?(ex: HttpExchange, data: Uint8Array): void;
}

/**
 * Reads a copy of both directions of an HTTP/1 connection and pairs each request with
 * its response, in order, pipelining included. The request parser holds bytes after an
 * Upgrade or CONNECT request until the response says whether the protocol switched.
 */
export class Http1ExchangeSniffer {
  readonly #requests = new Http1Parser("request", { strictHost: false });
  readonly #responses = new Http1Parser("response");
  /** Requests waiting for (or reading) their response, oldest first. */
  readonly #pending: HttpExchange[] = [];
  #reading: HttpExchange | null = null;
  #responding: HttpExchange | null = null;
  #switched = false;
  failed: string | undefined;
  /** Sniffing stopped at a size limit of the parser. */
  limitHit = false;
  /** Exchanges reported so far. */
  reported = 0;

  constructor(readonly capture: BodyCaptureOptions, readonly events: Http1SnifferEvents) {}

  client(chunk: Uint8Array): void {
    if (this.failed) return;
    this.#requests.push(chunk);
    this.#drainRequests();
  }

  server(chunk: Uint8Array): void {
    if (this.failed) return;
    this.#responses.push(chunk);
    this.#drainResponses();
  }

  /** The requests whose exchange is not over yet, oldest first. */
  get open(): readonly HttpExchange[] {
    return this.#pending;
  }

  /** When the oldest request still without a response head was fully sent, or null. */
  get unansweredSince(): number | null {
    const ex = this.#pending[0];
    return ex && ex.status === 0 && ex.requestEndMs > 0 ? ex.requestEndMs : null;
  }

  /** The connection ended: a close-delimited response ends; unanswered requests fail. */
  finish(): void {
    if (!this.failed && !this.#switched) {
      this.#responses.finish();
      this.#drainResponses();
    }
    const reason = this.failed ?? "connection closed before the response ended";
    for (const ex of this.#pending.splice(0)) this.#report(endExchange(ex, reason));
  }

  #fail(e: unknown) {
    this.failed = `http: ${(e as Error).message}`;
    // 414 and 431 are the size limits; other parse errors are just malformed traffic.
    this.limitHit = e instanceof Http1ParseError && (e.status === 414 || e.status === 431);
  }

  #drainRequests() {
    try {
      for (let ev = this.#requests.next(); ev; ev = this.#requests.next()) {
        switch (ev.type) {
          case "head": {
            const ex = this.#newExchange(ev.head);
            ex.inputBytes += ev.wire.length;
            this.#reading = ex;
            this.#pending.push(ex);
            this.#responses.expectResponseTo(ev.head.method);
            break;
          }
          case "body":
            this.#reading!.requestBody.add(ev.data);
            this.#reading!.inputBytes += ev.wire.length;
            break;
          case "end":
            this.#reading!.inputBytes += ev.wire.length;
            this.#reading!.requestEndMs = monotonicMs();
            this.#reading = null;
            break;
          case "tunnel":
            this.events.tunnel("client", ev.wire);
            break;
        }
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  #drainResponses() {
    try {
      for (let ev = this.#responses.next(); ev; ev = this.#responses.next()) {
        switch (ev.type) {
          case "head": {
            const ex = this.#pending[0];
            if (!ex) throw new Error("response without a request");
            ex.outputBytes += ev.wire.length;
            ex.responseMs ||= monotonicMs();
            const h = ev.head;
            if (h.status >= 100 && h.status < 200 && h.status !== 101) break;
            ex.status = h.status;
            ex.responseHeaders = h.headers;
            this.#responding = ex;
            this.events.responseHead?.(ex);
            break;
          }
          case "body":
            if (this.#responding) {
              this.#responding.responseBody.add(ev.data);
              this.#responding.outputBytes += ev.wire.length;
              this.events.responseBody?.(this.#responding, ev.data);
            }
            break;
          case "end": {
            const ex = this.#responding;
            if (!ex) break; // end of an interim (1xx) response
            ex.outputBytes += ev.wire.length;
            this.#responding = null;
            this.#pending.shift();
            if (this.#responses.tunneling) {
              this.#switchProtocols(ex);
            } else {
              if (this.#requests.holding) {
                // An Upgrade that was refused: the client goes on speaking HTTP/1.
                this.#requests.resume();
                this.#drainRequests();
              }
              this.#report(endExchange(ex));
            }
            break;
          }
          case "tunnel":
            this.events.tunnel("server", ev.wire);
            break;
        }
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  #switchProtocols(ex: HttpExchange) {
    this.#switched = true;
    const upgrade = ex.status === 101
      ? (ex.responseHeaders?.find(([n]) => n.toLowerCase() === "upgrade")?.[1] ?? "")
      : "connect";
    this.events.switched(ex, upgrade);
    this.#requests.switchToTunnel();
    this.#drainRequests();
  }

  #report(ex: HttpExchange) {
    this.reported++;
    this.events.exchange(ex);
  }

  #newExchange(head: Http1Head): HttpExchange {
    return newExchange(this.capture, {
      proto: head.version,
      method: head.method,
      uri: head.target,
      scheme: /^https?:\/\//i.test(head.target) ? head.target.split(":")[0].toLowerCase() : "",
      authority: headerValue(head, "host") ?? "",
      requestHeaders: head.headers,
    });
  }
}
