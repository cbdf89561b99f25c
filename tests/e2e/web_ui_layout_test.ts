import assert from "node:assert/strict";
import { curl, freePort, needs, startOrigin, startSnoop, until } from "../helpers/harness.ts";
import { startSnoopProcess } from "../helpers/snoop_process.ts";
import { Browser } from "../helpers/cdp.ts";

const ARTIFACTS = "test-artifacts";

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
      await browser.waitFor(`document.querySelector("#records").dataset.total === "82"`, "82");
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
      await browser.waitFor(`window.scrollY > 100`, "the page scrolled");
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

Deno.test({
  name:
    "web UI with 2,000+ records: virtualised list, keyboard, pause/clear, split, SSE as a conversation; screenshots at 1280 and 1920 px",
  ignore: needs("chromium", "curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-ui-many-" });
    const origin = await startOrigin((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/events") {
        return new Response(
          ": comment\n\nevent: greeting\nid: 1\ndata: hello <b>there</b>\n\ndata: line one\ndata: line two\n\n",
          { headers: { "content-type": "text/event-stream" } },
        );
      }
      const n = Number(/\d+/.exec(path)?.[0] ?? 0);
      return new Response("x".repeat(n % 97), { status: n % 13 === 0 ? 404 : 200 });
    });
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: store, metadata: { http.body: true } }]
    handler: { type: http, metadata: { sniffing: true } }
recorders:
  - name: store
    store: { path: "${home}/records.db" }
ui: { addr: "127.0.0.1:0", store: store, token: "off" }
`);
    const ui = `http://127.0.0.1:${snoop.uiAddr!.port}/`;
    const proxy = `127.0.0.1:${snoop.port()}`;
    const TOTAL = 2100;
    // One curl, many requests (URL globbing), kept alive: real traffic, quickly.
    const c = await curl("-x", proxy, "-o", "/dev/null", `${origin.url}/item/[1-${TOTAL}]`);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await curl("-x", proxy, `${origin.url}/events`)).code, 0);
    const browser = await Browser.launch(home, ui);
    const rendered = () =>
      browser.eval<number>(`document.querySelectorAll("#records tbody tr").length`);
    const total = () =>
      browser.eval<number>(`Number(document.querySelector("#records").dataset.total)`);
    try {
      await until(
        async () => {
          const r = await (await fetch(`${ui}api/records?limit=1`)).json();
          return r.records.length &&
            (await fetch(`${ui}api/stats`).then((x) => x.json())).total >= TOTAL;
        },
        "every record stored",
        30_000,
      );
      await browser.send("Emulation.setDeviceMetricsOverride", {
        width: 1920,
        height: 1080,
        deviceScaleFactor: 1,
        mobile: false,
      });
      await browser.send("Page.reload");
      await new Promise((r) => setTimeout(r, 300));
      await browser.waitFor(`document.querySelector("#live")?.textContent === "live"`, "live");
      // The first page is listed (the reload's list may still be on its way when live is).
      await browser.waitFor(
        `Number(document.querySelector("#records")?.dataset.total) > 0`,
        "the list's first page",
      );
      // Scrolling the list down loads older pages until every record is listed.
      for (let i = 0; i < 40 && (await total() ?? 0) < TOTAL + 1; i++) {
        await browser.eval(
          `(() => { const l = document.querySelector("#list"); l.scrollTop = l.scrollHeight; })()`,
        );
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(await total(), TOTAL + 1);
      // Only the rows in view are in the page.
      assert.ok(await rendered() < 150, `${await rendered()} rows rendered`);
      await browser.eval(
        `(() => { const l = document.querySelector("#list"); l.scrollTop = l.scrollHeight; })()`,
      );
      await new Promise((r) => setTimeout(r, 200));
      const lastShown = await browser.eval<string>(
        `[...document.querySelectorAll("#records tbody tr")].at(-1).children[5].textContent`,
      );
      assert.match(lastShown, /\/item\/1$/, "the oldest record at the end");
      await browser.eval(`document.querySelector("#list").scrollTop = 0`);
      await new Promise((r) => setTimeout(r, 200));
      await browser.screenshot(`${ARTIFACTS}/ui-1920.png`);

      // Keyboard: / focuses the search box; j/k move; Enter opens.
      await browser.eval(`document.body.focus()`);
      const key = async (k: string) => {
        for (const type of ["keyDown", "keyUp"]) {
          await browser.send("Input.dispatchKeyEvent", {
            type,
            key: k,
            text: type === "keyDown" && k.length === 1 ? k : undefined,
            windowsVirtualKeyCode: k === "Enter" ? 13 : k.toUpperCase().charCodeAt(0),
          });
        }
      };
      await key("/");
      assert.equal(await browser.eval<string>(`document.activeElement.name`), "q");
      await browser.eval(`document.activeElement.blur()`);
      await key("j");
      await key("j");
      await key("k");
      await key("j");
      await key("Enter");
      const second = await browser.eval<string>(
        `document.querySelectorAll("#records tbody tr")[1].dataset.id`,
      );
      await browser.waitFor(
        `document.querySelector("#detail").dataset.id === "${second}"`,
        "Enter",
      );
      assert.equal(
        await browser.eval<string>(`document.querySelector("#records tbody tr.sel").dataset.id`),
        second,
      );

      // The SSE response as a conversation of events, markup as text.
      await browser.eval(`document.querySelector("input[name=q]").value = "/events"`);
      await browser.eval(`document.querySelector("#filters button").click()`);
      await browser.waitFor(`document.querySelector("#records").dataset.total === "1"`, "filtered");
      await browser.eval(`document.querySelector("#records tbody tr").click()`);
      await browser.waitFor(`document.querySelector("#sse-conversation")`, "the events");
      assert.deepEqual(
        await browser.eval<string[]>(
          `[...document.querySelectorAll("#sse-conversation li")].map((li) => li.textContent)`,
        ),
        ["greeting · id 1hello <b>there</b>", "messageline one\nline two"],
      );
      assert.equal(
        await browser.eval<number>(`document.querySelectorAll("#sse-conversation b").length`),
        0,
        "markup in an event became an element",
      );

      // Pause holds new records back; Resume lists them; Clear empties the list.
      await browser.eval(`document.querySelector("input[name=q]").value = ""`);
      await browser.eval(`document.querySelector("#filters button").click()`);
      await browser.waitFor(`document.querySelector("#records").dataset.total === "500"`, "reload");
      await browser.eval(`document.querySelector("#pause").click()`);
      await curl("-x", proxy, `${origin.url}/while-paused`);
      await browser.waitFor(
        `/1 waiting/.test(document.querySelector("#count").textContent)`,
        "held",
      );
      assert.equal(await total(), 500);
      await browser.eval(`document.querySelector("#pause").click()`);
      await browser.waitFor(
        `document.querySelector("#records").dataset.total === "501"`,
        "resumed",
      );
      assert.match(
        await browser.eval<string>(`document.querySelector("#records tbody tr").textContent`),
        /while-paused/,
      );
      await browser.eval(`document.querySelector("#clear").click()`);
      await browser.waitFor(`document.querySelector("#records").dataset.total === "0"`, "cleared");
      await browser.eval(`document.querySelector("#filters button").click()`);
      await browser.waitFor(`document.querySelector("#records").dataset.total === "500"`, "again");

      // The split between list and details moves (keyboard on the handle) and holds.
      const listWidth = () =>
        browser.eval<number>(`document.querySelector("#list").getBoundingClientRect().width`);
      const w0 = await listWidth();
      await browser.eval(`document.querySelector("#split").focus()`);
      for (let i = 0; i < 5; i++) {
        await browser.send("Input.dispatchKeyEvent", {
          type: "keyDown",
          key: "ArrowLeft",
          windowsVirtualKeyCode: 37,
        });
      }
      const w1 = await listWidth();
      assert.ok(w1 < w0 - 150, `the list narrowed from ${w0} to ${w1}`);

      // 1280 px: the list's numbers stay beside the details; open a record for the picture.
      await browser.send("Emulation.setDeviceMetricsOverride", {
        width: 1280,
        height: 800,
        deviceScaleFactor: 1,
        mobile: false,
      });
      await browser.eval(`localStorage.clear()`);
      await browser.send("Page.reload");
      await new Promise((r) => setTimeout(r, 300));
      await browser.waitFor(`document.querySelector("#records")?.dataset.total === "500"`, "1280");
      await browser.eval(`document.querySelectorAll("#records tbody tr")[3].click()`);
      await browser.waitFor(`document.querySelector("#detail").dataset.id`, "the detail view");
      const table = await browser.eval<Box>(box("#records"));
      const detail = await browser.eval<Box>(box("#detail"));
      const ms = await browser.eval<Box>(box("#records th:nth-child(8)"));
      assert.ok(table.right <= detail.left && ms.right <= detail.left, "the ms column is visible");
      await browser.eval(`window.scrollTo(0, 0)`);
      await browser.screenshot(`${ARTIFACTS}/ui-1280.png`);
      // And in dark mode.
      await browser.send("Emulation.setEmulatedMedia", {
        features: [{ name: "prefers-color-scheme", value: "dark" }],
      });
      const bg = await browser.eval<string>(`getComputedStyle(document.body).backgroundColor`);
      assert.equal(bg, "rgb(15, 17, 21)");
      await browser.screenshot(`${ARTIFACTS}/ui-1280-dark.png`);
    } finally {
      await browser.close();
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
