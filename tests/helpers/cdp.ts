import { CdpSession } from "../../scripts/lib/cdp_session.ts";

/**
 * Headless Chromium driven over the DevTools protocol (CDP) with Deno's own WebSocket:
 * evaluate script in the page, wait for conditions, take screenshots. Bounded: every call
 * has a deadline, and `close` kills every process of the profile.
 */
export class Browser {
  #session?: CdpSession;

  private constructor(readonly child: Deno.ChildProcess, readonly profile: string) {}

  /** Starts Chromium on `url`; `args` adds flags (a proxy, say). */
  static async launch(home: string, url: string, args: string[] = []): Promise<Browser> {
    const profile = `${home}/cdp-profile`;
    const child = new Deno.Command("chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,900",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        ...args,
        url,
      ],
      // TMPDIR too: Chromium leaves org.chromium.Chromium.* (its singleton socket) in it.
      env: { HOME: home, TMPDIR: home },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const browser = new Browser(child, profile);
    try {
      let port = 0;
      for (let i = 0; i < 200 && !port; i++) {
        const text = await Deno.readTextFile(`${profile}/DevToolsActivePort`).catch(() => "");
        port = Number(text.split("\n")[0]) || 0;
        if (!port) await new Promise((r) => setTimeout(r, 50));
      }
      if (!port) throw new Error("chromium did not open its DevTools port");
      let wsUrl = "";
      for (let i = 0; i < 100 && !wsUrl; i++) {
        const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
        wsUrl = targets.find((t: { type: string }) => t.type === "page")?.webSocketDebuggerUrl ??
          "";
        if (!wsUrl) await new Promise((r) => setTimeout(r, 50));
      }
      browser.#session = await CdpSession.connect(wsUrl);
      return browser;
    } catch (e) {
      await browser.close();
      throw e;
    }
  }

  send(method: string, params: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<unknown> {
    if (!this.#session) return Promise.reject(new Error("no CDP session"));
    return this.#session.send(method, params, timeoutMs);
  }

  /** Evaluates an expression (awaiting promises) and returns its value. */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }) as {
      result: { value: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) {
      throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    }
    return r.result.value;
  }

  /** Waits until `expression` is truthy in the page. */
  async waitFor(expression: string, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.eval<boolean>(`Boolean(${expression})`))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async screenshot(file: string): Promise<void> {
    const r = await this.send("Page.captureScreenshot", { format: "png" }) as { data: string };
    await Deno.mkdir(file.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeFile(file, Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0)));
  }

  async close(): Promise<void> {
    this.#session?.close();
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.child.status;
    await new Deno.Command("pkill", { args: ["-KILL", "-f", this.profile] }).output().catch(
      () => {},
    );
  }
}
