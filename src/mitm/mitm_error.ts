import type { TlsRecord } from "../record/record.ts";

/** An interception that failed, with the text for the record's `err`. */
export class MitmError extends Error {
  constructor(
    message: string,
    readonly tls: Partial<TlsRecord> = {},
    /** The limit this failure counts against (a handshake deadline), if any. */
    readonly limit?: "tls-handshake-timeout",
  ) {
    super(message);
    this.name = "MitmError";
  }
}
