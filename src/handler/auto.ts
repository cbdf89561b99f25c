import { BufferedConn, withDeadline } from "../net/buffered_conn.ts";
import { closeQuietly } from "../net/stream.ts";
import type { ConnContext } from "../tunnel/conn_context.ts";
import type { Handler, HandlerDeps } from "./handler.ts";
import { HttpHandler } from "./http/handler.ts";
import { Socks4Handler } from "./socks4.ts";
import { Socks5Handler } from "./socks5.ts";

/**
 * HTTP, SOCKS4(a) and SOCKS5 on one port, chosen by the first byte: 0x05 is a SOCKS5
 * greeting, 0x04 a SOCKS4 request, anything else is HTTP. All three share the service's
 * options, so sniffing and auth apply whichever the client speaks.
 */
export class AutoHandler implements Handler {
  readonly http: HttpHandler;
  readonly socks5: Socks5Handler;
  readonly socks4: Socks4Handler;

  constructor(deps: HandlerDeps) {
    this.http = new HttpHandler(deps);
    this.socks5 = new Socks5Handler(deps);
    this.socks4 = new Socks4Handler(deps);
  }

  async handle(conn: Deno.Conn, ctx: ConnContext): Promise<void> {
    const client = new BufferedConn(conn);
    let first: number;
    try {
      first = (await withDeadline(
        this.http.headerTimeoutMs,
        "first byte",
        () => client.peek(1, "first byte"),
        () => client.close(),
      ))[0];
    } catch {
      closeQuietly(client);
      return;
    }
    if (first === 0x05) return this.socks5.serve(client, ctx);
    if (first === 0x04) return this.socks4.serve(client, ctx);
    return this.http.serve(client, ctx);
  }

  close(): void {
    this.http.close();
  }
}

export const autoHandler = (deps: HandlerDeps): Handler => new AutoHandler(deps);
