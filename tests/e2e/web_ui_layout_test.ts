import assert from "node:assert/strict";
import { curl, freePort, needs, startOrigin, startSnoop, until } from "../helpers/harness.ts";
import { startSnoopProcess } from "../helpers/snoop_process.ts";
import { Browser } from "../helpers/cdp.ts";

/** The page's layout box of the first element matching `sel`. */
const box = (sel: string) =>
  `(() => { const r = document.querySelector(${
    JSON.stringify(sel)
  }).getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }; })()`;

type Box = { left: number; right: number; top: number; bottom: number };

Deno.test({
  name: "web UI layout: rows by start time, the detail panel stays in view, columns fit at 1600 px",
  ignore: needs("chromium", "curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-ui-layout-" });
    // /slow answers after the fast requests that start after it have ended: its record is
    // stored last but started first.
    let release!: () => void;
    const slowGate = new Promise<void>((r) => release = r);
    const origin = await startOrigin(async (req) => {
      if (new URL(req.url).pathname === "/slow") await slowGate;
      return new Response("ok");
    });
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: store }]
    handler: { type: http }
recorders:
  - name: store
    store: { path: "${home}/records.db" }
ui: { addr: "127.0.0.1:0", store: store, token: "off" }
`);
    const ui = `http://127.0.0.1:${snoop.uiAddr!.port}/`;
    const proxy = `127.0.0.1:${snoop.port()}`;
    const browser = await Browser.launch(home, ui);
    try {
      await browser.send("Emulation.setDeviceMetricsOverride", {
        width: 1600,
        height: 900,
        deviceScaleFactor: 1,
        mobile: false,
      });
      await browser.waitFor(`document.querySelector("#live")?.textContent === "live"`, "live");
      const slow = curl("-x", proxy, `${origin.url}/slow`);
      await until(() => origin.requests.some((r) => r.path === "/slow"), "the slow request");
      // A long host and URI must not push the numeric columns under the detail panel.
      const long = "x".repeat(300);
      await curl("-x", proxy, `${origin.url}/fast-${long}`);
      await browser.waitFor(`document.querySelectorAll("#records tbody tr").length === 1`, "fast");
      release();
      await slow;
      await browser.waitFor(`document.querySelectorAll("#records tbody tr").length === 2`, "both");
      const order = () =>
        browser.eval<string[]>(
          `[...document.querySelectorAll("#records tbody tr")].map((tr) => /[/](fast|slow)/.exec(tr.children[5].textContent)?.[1])`,
        );
      // Newest start first: the fast request started after /slow.
      assert.deepEqual(await order(), ["fast", "slow"], "live rows");
      await browser.eval(`document.querySelector("#filters button").click()`);
      await browser.waitFor(`document.querySelectorAll("#records tbody tr").length === 2`, "load");
      assert.deepEqual(await order(), ["fast", "slow"], "loaded rows");

      // Enough rows to scroll the page (curl's URL globbing: one process, 80 requests).
      await curl("-x", proxy, `${origin.url}/page[1-80]`);
      await browser.eval(`document.querySelector("#filters button").click()`);
      await browser.waitFor(`document.querySelectorAll("#records tbody tr").length === 82`, "82");
      const table = await browser.eval<Box>(box("#records"));
      const detail = await browser.eval<Box>(box("#detail"));
      const ms = await browser.eval<Box>(box("#records th:nth-child(8)"));
      assert.ok(table.right <= detail.left, `table ${table.right} overlaps detail ${detail.left}`);
      assert.ok(ms.right <= detail.left && ms.left > table.left, "the ms column is visible");
      await browser.eval(`document.querySelector("#records tbody tr").click()`);
      await browser.waitFor(`document.querySelector("#detail").dataset.id`, "the detail view");
      // Copy as curl from the detail view: the command for this record, shown as text.
      await browser.eval(`document.querySelector("#copy-as").click()`);
      await browser.waitFor(`document.querySelector("#copy-code")?.textContent`, "the command");
      const command = await browser.eval<string>(
        `document.querySelector("#copy-code").textContent`,
      );
      assert.match(command, /^# curl command/);
      assert.match(command, new RegExp(`'${origin.url}/page80'`));
      await browser.eval(`window.scrollTo(0, document.body.scrollHeight)`);
      await browser.waitFor(`window.scrollY > 300`, "the page scrolled");
      const after = await browser.eval<Box>(box("#detail"));
      assert.ok(
        after.top >= 0 && after.top < 100,
        `the detail panel scrolled out of view (top ${after.top})`,
      );
    } finally {
      release();
      await browser.close();
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "web UI: a live feed that the client leaves prints no request.signal warning",
  ignore: needs("curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-ui-sse-" });
    const [proxyPort, uiPort] = [freePort(), freePort()];
    const snoop = await startSnoopProcess(
      home,
      `
services:
  - name: proxy
    addr: 127.0.0.1:${proxyPort}
    recorders: [{ name: store }]
    handler: { type: http }
recorders:
  - name: store
    store: { path: "${home}/records.db" }
ui: { addr: "127.0.0.1:${uiPort}", store: store, token: "off" }
`,
      [proxyPort, uiPort],
    );
    try {
      // Each client stays a second on the feed, then goes away.
      for (let i = 0; i < 2; i++) {
        const r = await curl("-N", "-m", "1", `http://127.0.0.1:${uiPort}/api/events`);
        assert.match(r.stdout, /snoop live records/);
      }
      // Still serving, and the health check answers after the feeds were cancelled.
      assert.equal((await curl(`http://127.0.0.1:${uiPort}/healthz`)).stdout, "ok");
      await new Promise((r) => setTimeout(r, 300));
      assert.doesNotMatch(snoop.log(), /request\.signal|legacy/);
    } finally {
      await snoop.stop();
      await Deno.remove(home, { recursive: true });
    }
  },
});
