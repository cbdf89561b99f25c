/** Encodings the decoder undoes (Content-Encoding values, lower case). */
export const DECODABLE = new Set(["gzip", "x-gzip", "deflate", "br", "zstd"]);

/** What the worker is asked (body_decoder_worker.ts). */
export interface DecodeRequest {
  id: number;
  encoding: string;
  body: Uint8Array;
  maxBytes: number;
}

/** Its answer: the first `maxBytes` decoded bytes and whether there were more, or an error. */
export interface DecodeReply {
  id: number;
  bytes?: Uint8Array;
  truncated?: boolean;
  error?: string;
}

export interface DecodeOptions {
  /** Decoded bytes kept at most (`ui.maxDecodedBody`); more is cut off and said so. */
  maxBytes: number;
  /** A decode still running after this long is stopped (its worker ended). */
  deadlineMs: number;
  /** Decodes waiting for the worker at most; past it, a request is refused at once. */
  maxWaiting: number;
}

/** The decoder's settings; `App` sets `maxBytes` from the configuration. */
export const decodeDefaults: DecodeOptions = {
  maxBytes: 16 * 1024 * 1024,
  deadlineMs: 10_000,
  maxWaiting: 8,
};

/** The decoder cannot take another request now. */
export class DecoderBusy extends Error {
  constructor() {
    super("the body decoder is busy; try again");
    this.name = "DecoderBusy";
  }
}

/** A worker with nothing to do for this long is ended; the next decode starts another. */
const IDLE_MS = 10_000;

/**
 * Decodes bodies in a worker of its own, one at a time. Inflating is synchronous CPU work:
 * on the proxy's thread a bomb held every proxied request for seconds, and inflated whole it
 * took gigabytes. Here the worker stops at `maxBytes`, a decode past its deadline is ended
 * with its worker, and at most `maxWaiting` requests wait their turn, so the cost of
 * someone asking for many bombs at once is bounded too.
 */
export class BodyDecoder {
  #worker: Worker | null = null;
  #nextId = 0;
  /** The tail of the chain of decodes: each starts when the one before has settled. */
  #tail: Promise<unknown> = Promise.resolve();
  #waiting = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly options: DecodeOptions = decodeDefaults) {}

  /** Whether a worker is running now. */
  get running(): boolean {
    return this.#worker !== null;
  }

  /**
   * The first `maxBytes` bytes of `body` decoded, and whether there were more. Rejects with
   * DecoderBusy when too many wait, or with the worker's error, or past the deadline.
   */
  decode(
    encoding: string,
    body: Uint8Array,
    maxBytes = this.options.maxBytes,
  ): Promise<{ bytes: Uint8Array; truncated: boolean }> {
    if (this.#waiting >= this.options.maxWaiting) return Promise.reject(new DecoderBusy());
    this.#waiting++;
    const run = this.#tail.then(() => this.#run(encoding, body, maxBytes));
    this.#tail = run.catch(() => {}).finally(() => this.#waiting--);
    return run;
  }

  /** Ends the worker; a later decode starts a new one. */
  close(): void {
    clearTimeout(this.#idleTimer);
    this.#worker?.terminate();
    this.#worker = null;
  }

  #run(
    encoding: string,
    body: Uint8Array,
    maxBytes: number,
  ): Promise<{ bytes: Uint8Array; truncated: boolean }> {
    clearTimeout(this.#idleTimer);
    const worker = this.#worker ??= this.#start();
    const id = ++this.#nextId;
    return new Promise<{ bytes: Uint8Array; truncated: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The only way to stop synchronous inflating in the worker is to end the worker.
        this.close();
        reject(new Error(`decoding took longer than ${this.options.deadlineMs} ms`));
      }, this.options.deadlineMs);
      const settle = (reply: DecodeReply) => {
        if (reply.id !== id) return;
        clearTimeout(timer);
        worker.removeEventListener("message", onMessage);
        worker.removeEventListener("error", onError);
        if (reply.error !== undefined || !reply.bytes) {
          reject(new Error(reply.error ?? "no answer"));
        } else resolve({ bytes: reply.bytes, truncated: reply.truncated ?? false });
      };
      const onMessage = (event: MessageEvent<DecodeReply>) => settle(event.data);
      const onError = (event: ErrorEvent) => {
        event.preventDefault(); // the worker's failure fails this decode, not the process
        this.close();
        settle({ id, error: `decoder failed: ${event.message}` });
      };
      worker.addEventListener("message", onMessage);
      worker.addEventListener("error", onError);
      const request: DecodeRequest = { id, encoding, body, maxBytes };
      worker.postMessage(request);
    }).finally(() => {
      if (this.#worker === worker) {
        const idle = setTimeout(() => this.close(), IDLE_MS);
        Deno.unrefTimer(idle); // an idle worker does not keep the process up
        this.#idleTimer = idle;
      }
    });
  }

  #start(): Worker {
    return new Worker(new URL("./body_decoder_worker.ts", import.meta.url), { type: "module" });
  }
}

/** The decoder the body endpoint uses. */
export const bodyDecoder = new BodyDecoder();
