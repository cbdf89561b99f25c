/**
 * One DevTools protocol (CDP) connection over Deno's own WebSocket: commands by id, each with a
 * deadline. Chromium's pages (`cdp.ts`) and Deno's inspector (`connectDenoInspector`) both
 * speak it.
 */
export class CdpSession {
  #id = 0;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data));
      const p = msg.id !== undefined ? this.#pending.get(msg.id) : undefined;
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    };
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error("CDP connection closed"));
      this.#pending.clear();
    };
  }

  /** Opens the target's debugger WebSocket (`webSocketDebuggerUrl` of `/json/list`). */
  static async connect(url: string): Promise<CdpSession> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`CDP connection to ${url} failed`));
    });
    return new CdpSession(ws);
  }

  /** Sends one command and waits for its result (rejects on a CDP error or the deadline). */
  send(method: string, params: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<unknown> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method} timed out`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    try {
      this.ws.close();
    } catch { /* closed */ }
  }
}

/** A session on the first target of a Deno process started with `--inspect=127.0.0.1:port`. */
export async function connectDenoInspector(port: number): Promise<CdpSession> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  return await CdpSession.connect(targets[0].webSocketDebuggerUrl);
}
