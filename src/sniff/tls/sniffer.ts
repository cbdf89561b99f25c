import { Buffer } from "node:buffer";
import {
  type ClientHello,
  type HelloResult,
  newClientHelloReader,
  newServerHelloReader,
  type ServerHello,
} from "../../protocol/tls/hello.ts";
import { cipherSuiteName, tlsVersionName } from "../../protocol/tls/names.ts";
import { fingerprintFields } from "../../protocol/tls/fingerprint.ts";
import type { HandlerRecord, TlsRecord } from "../../record/record.ts";
import { interimRecord } from "../interim_record.ts";
import type { SniffContext, Sniffer } from "../sniffer.ts";

/**
 * TLS in a tunnel (not intercepted): one record for the connection with the ClientHello
 * and ServerHello details (server name, ALPN, version, cipher suite, the raw hellos).
 */
export class TlsSniffer implements Sniffer {
  readonly name = "tls";
  readonly #client = newClientHelloReader();
  readonly #server = newServerHelloReader();
  #clientHello: { hello: ClientHello; raw: Uint8Array } | undefined;
  #serverHello: { hello: ServerHello; raw: Uint8Array } | undefined;
  #error: string | undefined;

  constructor(readonly ctx: SniffContext) {}

  onClientData(chunk: Uint8Array): void {
    if (this.#clientHello) return;
    const r = this.#client.push(chunk);
    if (r.status === "done") this.#clientHello = { hello: r.hello, raw: r.raw };
    else this.#invalid(r);
  }

  onServerData(chunk: Uint8Array): void {
    if (!this.#clientHello || this.#serverHello || this.#error) return;
    const r = this.#server.push(chunk);
    if (r.status === "done") this.#serverHello = { hello: r.hello, raw: r.raw };
    else this.#invalid(r);
  }

  #invalid<T>(r: HelloResult<T>) {
    if (r.status === "invalid") this.#error = `tls: ${r.reason}`;
  }

  /** The connection so far, with what the hellos said. */
  interim(seen: { client: number; server: number }): HandlerRecord[] {
    const rec = this.ctx.record;
    const copy = interimRecord(
      rec,
      rec.startMs,
      rec.inputBytes + seen.client,
      rec.outputBytes + seen.server,
    );
    copy.proto = "tls";
    copy.tls = this.#section();
    return [copy];
  }

  #section(): TlsRecord {
    const ch = this.#clientHello, sh = this.#serverHello;
    const tls: TlsRecord = {
      serverName: ch?.hello.serverName ?? "",
      cipherSuite: sh ? cipherSuiteName(sh.hello.cipherSuite) : "",
      compressionMethod: sh?.hello.compressionMethod ?? 0,
      proto: sh?.hello.alpn || ch?.hello.alpn[0] || "",
      version: sh ? tlsVersionName(sh.hello.version) : "",
      clientHello: ch ? Buffer.from(ch.raw).toString("hex") : "",
      serverHello: sh ? Buffer.from(sh.raw).toString("hex") : "",
    };
    if (ch?.hello.ech) tls.ech = true;
    if (ch) Object.assign(tls, fingerprintFields(ch.raw));
    return tls;
  }

  finish(): void {
    const rec = this.ctx.record;
    rec.proto = "tls";
    const ch = this.#clientHello;
    rec.tls = this.#section();
    if (this.#error) rec.err ??= this.#error;
    else if (!ch) rec.err ??= "tls: connection closed before the ClientHello was complete";
    this.ctx.emit(rec);
  }
}
