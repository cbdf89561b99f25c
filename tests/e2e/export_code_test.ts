import assert from "node:assert/strict";
import { needs, startSnoop } from "../helpers/harness.ts";

/**
 * Copy as code against hostile records: requests whose target, headers and body hold
 * quotes, `$(…)`, backticks, `;`, backslashes, `%`, non-ASCII and bytes that are not UTF-8
 * go through snoop; each record's curl export runs under `sh -c` against a raw TCP origin,
 * which must receive the same method, target, end-to-end headers and body, byte for byte,
 * and nothing may run that the record carried. The Python and fetch exports run too.
 */

const latin1 = (b: Uint8Array) => String.fromCharCode(...b);
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const utf8 = (s: string) => latin1(new TextEncoder().encode(s));

interface Received {
  method: string;
  target: string;
  /** Lower-case name and the value's bytes as Latin-1, in arrival order. */
  headers: [string, string][];
  body: string;
}

function parseRequest(raw: string): Received {
  const end = raw.indexOf("\r\n\r\n");
  const [line, ...fields] = raw.slice(0, end).split("\r\n");
  const [method, target] = line.split(" ");
  const headers = fields.map((f) => {
    const i = f.indexOf(":");
    return [f.slice(0, i).toLowerCase(), f.slice(i + 1).replace(/^[ \t]+|[ \t]+$/g, "")] as [
      string,
      string,
    ];
  });
  return { method, target, headers, body: raw.slice(end + 4) };
}

/** An origin on a raw socket: keeps each request's bytes, answers 200 and closes. */
function rawOrigin() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        let raw = "";
        const buf = new Uint8Array(65536);
        try {
          while (true) {
            const end = raw.indexOf("\r\n\r\n");
            if (end >= 0) {
              const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(raw.slice(0, end))?.[1] ?? 0);
              if (raw.length >= end + 4 + len) break;
            }
            const n = await conn.read(buf);
            if (n === null) break;
            raw += latin1(buf.subarray(0, n));
          }
          received.push(raw);
          await conn.write(
            bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"),
          );
        } catch { /* the client went away */ }
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    received,
    async close() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

/** Sends `raw` to the proxy and reads until it closes or the response is whole. */
async function sendRaw(port: number, raw: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(raw);
  let out = "";
  const buf = new Uint8Array(4096);
  const deadline = setTimeout(() => conn.close(), 10_000);
  try {
    while (!/\r\n\r\nok$/.test(out)) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += latin1(buf.subarray(0, n));
    }
  } finally {
    clearTimeout(deadline);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return out;
}

/** Fields that are not end to end (or that each client writes itself). */
const HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "content-length",
  "transfer-encoding",
  "proxy-authorization",
  "te",
  "upgrade",
]);
const endToEnd = (h: [string, string][]) =>
  h.filter(([n]) => !HOP.has(n)).map((x) => x.join(": ")).sort();

interface Case {
  name: string;
  method: string;
  target: string;
  headers: [string, string][];
  body?: string;
  /** Values the test supplies for snoop's redaction variables. */
  secrets: Record<string, string>;
}

const CANARY = "snoop-export-canary";

/** Runs a program in `cwd` with a deadline, without proxy variables. */
async function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const noProxy = ["http_proxy", "https_proxy", "all_proxy", "no_proxy"];
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: {
      ...Object.fromEntries(noProxy.flatMap((k) => [[k, ""], [k.toUpperCase(), ""]])),
      ...opts.env,
    },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const out = await child.output().finally(() => clearTimeout(timer));
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test({
  name:
    "copy as curl: hostile targets, headers and bodies arrive byte for byte; nothing runs; redacted values are variables",
  ignore: needs("curl", "sh", "base64", "python3"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-export-" });
    const work = `${home}/work`;
    await Deno.mkdir(work);
    const origin = rawOrigin();
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
    const ui = `http://127.0.0.1:${snoop.uiAddr!.port}`;
    const authority = `127.0.0.1:${origin.port}`;
    const inject = `$(touch ${CANARY})`;
    const cases: Case[] = [
      {
        name: "shell metacharacters in target and headers",
        method: "GET",
        target: `/a'b/${inject.replaceAll(" ", "%20")}/;touch%20x;/q?x='$(id)'&y=\`id\`&z=%24HOME`,
        headers: [
          ["X-Quote", `it's "quoted" '' '\\''`],
          ["X-Sub", inject],
          ["X-Tick", `\`touch ${CANARY}\``],
          ["X-Semi", `a; touch ${CANARY}; echo | cat & wait`],
          ["X-Backslash", `a\\b\\'c\\\\`],
          ["X-Percent", "100%d %s %n \\x41"],
          ["X-Dollar", "$HOME ${PATH} $$ $1"],
          ["X-Empty", ""],
          ["X-Twice", "one"],
          ["X-Twice", "two"],
          ["User-Agent", "test-agent/1"],
        ],
        secrets: {},
      },
      {
        name: "non-ASCII, invalid UTF-8, bidi overrides and tabs in values",
        method: "PUT",
        target: "/caf%C3%A9?n=%E2%9C%93",
        headers: [
          ["X-Utf8", utf8("café ✓ 日本")],
          ["X-Latin1", "\xe9\xff\xa0"],
          ["X-Bidi", utf8("abc\u202edef\u2066")],
          ["X-Tab", "a\tb"],
          ["Content-Type", "application/octet-stream"],
        ],
        body: "\x00\x01\xff\xfe binary\r\n\x1b[31m$(touch x)\n\n",
        secrets: {},
      },
      {
        name: "a text body that starts with @, and redacted header and query values",
        method: "POST",
        target: "/login?user=bob&token=s3cr'et&x=1",
        headers: [
          ["Authorization", "Bearer a'b$(touch x)"],
          ["Cookie", "sid=1; x=`id`"],
          ["Content-Type", "text/plain"],
        ],
        body: `@/etc/passwd\nline 'two' $(touch ${CANARY})\n\n`,
        secrets: {
          SNOOP_REDACTED_AUTHORIZATION: "Bearer a'b$(touch x)",
          SNOOP_REDACTED_COOKIE: "sid=1; x=`id`",
          SNOOP_REDACTED_QUERY_TOKEN: "s3cr'et",
        },
      },
    ];
    try {
      for (const c of cases) {
        const head = [
          `${c.method} http://${authority}${c.target} HTTP/1.1`,
          `Host: ${authority}`,
          ...c.headers.map(([n, v]) => `${n}: ${v}`),
          ...(c.body !== undefined ? [`Content-Length: ${c.body.length}`] : []),
        ].join("\r\n");
        const reply = await sendRaw(snoop.port(), bytes(`${head}\r\n\r\n${c.body ?? ""}`));
        assert.match(reply, /^HTTP\/1\.1 200/, `${c.name}: the proxy forwarded it`);
      }
      assert.equal(origin.received.length, cases.length);
      const sent = origin.received.map(parseRequest);
      // The records, oldest first.
      let records: { id: number; uri: string }[] = [];
      for (let i = 0; i < 50 && records.length < cases.length; i++) {
        records = (await (await fetch(`${ui}/api/records?limit=10`)).json()).records.reverse();
        if (records.length < cases.length) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(records.length, cases.length);

      for (const [i, c] of cases.entries()) {
        const id = records[i].id;
        const res = await fetch(`${ui}/api/records/${id}/as/curl`);
        assert.equal(res.status, 200);
        const script = await res.text();
        assert.doesNotMatch(script, /(^|[^_])REDACTED/, `${c.name}: no literal REDACTED`);
        for (const v of Object.keys(c.secrets)) {
          assert.ok(script.includes(v), `${c.name}: ${v} is named`);
        }
        // Without the secrets the command stops before sending anything.
        if (Object.keys(c.secrets).length) {
          const before = origin.received.length;
          const unset = await run("sh", ["-c", script], { cwd: work });
          assert.notEqual(unset.code, 0, `${c.name}: ran without its secrets`);
          assert.equal(origin.received.length, before);
        }
        const out = await run("sh", ["-c", script], { cwd: work, env: c.secrets });
        assert.equal(out.code, 0, `${c.name}: ${out.stderr}\n${script}`);
        const got = parseRequest(origin.received.at(-1)!);
        const want = { ...sent[i], headers: endToEnd(sent[i].headers) };
        assert.deepEqual(
          { ...got, headers: endToEnd(got.headers) },
          want,
          `${c.name}: curl sent something else\n${script}`,
        );
      }
      assert.deepEqual([...Deno.readDirSync(work)], [], "something the records carried ran");

      // Python (http.client) and fetch: the same method, headers and body (target exactly
      // where it is printable ASCII).
      for (const [i, c] of cases.entries()) {
        const id = records[i].id;
        const py = await (await fetch(`${ui}/api/records/${id}/as/python`)).text();
        await Deno.writeTextFile(`${home}/req.py`, py);
        const p = await run("python3", [`${home}/req.py`], { cwd: work, env: c.secrets });
        assert.equal(p.code, 0, `${c.name}: ${p.stderr}\n${py}`);
        const got = parseRequest(origin.received.at(-1)!);
        assert.deepEqual(
          { ...got, headers: endToEnd(got.headers) },
          { ...sent[i], headers: endToEnd(sent[i].headers) },
          `${c.name}: python sent something else\n${py}`,
        );

        let js = await (await fetch(`${ui}/api/records/${id}/as/fetch`)).text();
        for (const [k, v] of Object.entries(c.secrets)) {
          js = js.replace(`const ${k} = "";`, `const ${k} = ${JSON.stringify(v)};`);
        }
        await Deno.writeTextFile(`${home}/req.js`, js);
        const f = await run(Deno.execPath(), ["run", "--allow-net", `${home}/req.js`], {
          cwd: work,
        });
        assert.equal(f.code, 0, `${c.name}: ${f.stderr}\n${js}`);
        const fgot = parseRequest(origin.received.at(-1)!);
        assert.equal(fgot.method, sent[i].method);
        assert.equal(fgot.body, sent[i].body);
        const arrived = new Set(endToEnd(fgot.headers));
        for (const h of endToEnd(sent[i].headers)) {
          assert.ok(arrived.has(h), `${c.name}: fetch did not send ${JSON.stringify(h)}\n${js}`);
        }
      }
      assert.deepEqual([...Deno.readDirSync(work)], [], "something the records carried ran");

      // The raw message and HTTPie form exist; a CONNECT or unknown record is refused.
      const raw = await fetch(`${ui}/api/records/${records[0].id}/as/raw`);
      assert.match(await raw.text(), /^GET \/a'b\//);
      const httpie = await (await fetch(`${ui}/api/records/${records[2].id}/as/httpie`)).text();
      assert.match(httpie, /"\$\{SNOOP_REDACTED_AUTHORIZATION:\?\}"/);
      assert.equal((await fetch(`${ui}/api/records/999999/as/curl`)).status, 404);
      assert.equal((await fetch(`${ui}/api/records/1/as/perl`)).status, 404);
    } finally {
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
