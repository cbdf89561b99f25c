import assert from "node:assert/strict";
import { RecordStore } from "../../src/store/record_store.ts";
import { serveHttp } from "../../src/web/serve.ts";
import { createWebApp } from "../../src/web/web_app.ts";
import {
  type AccessPolicy,
  boundHosts,
  checkAccess,
  checkWrite,
  randomToken,
  startToken,
  startUrl,
  tokenMatches,
} from "../../src/web/access_policy.ts";
import { sampleRecord } from "../helpers/records.ts";
import { parseConfigText } from "../../src/config/load.ts";

const TOKEN = "s3cret-token";

async function withApp(
  policy: AccessPolicy,
  fn: (app: (req: Request) => Promise<Response>) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const store = new RecordStore(`${dir}/r.db`);
  store.insertBatch([sampleRecord(0)]);
  const app = createWebApp({ store, access: policy, metrics: () => "snoop_up 1\n" });
  try {
    await fn(app);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A request as a browser or curl sends it to the UI on 127.0.0.1:8081. */
function get(path: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://127.0.0.1:8081${path}`, {
    headers: { host: "127.0.0.1:8081", ...headers },
  });
}

const bearer = { authorization: `Bearer ${TOKEN}` };

async function status(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.body?.cancel();
  return r.status;
}

Deno.test("access policy: a Host that does not name the server is 421, on every path", async () => {
  await withApp({ hosts: new Set(["10.0.0.5:8081", "snoop.lan"]), token: TOKEN }, async (app) => {
    for (const path of ["/", "/api/records", "/api/events", "/app.js", "/healthz", "/ca.crt"]) {
      // DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its own name.
      const r = await app(get(path, { host: "evil.example", ...bearer }));
      assert.equal(r.status, 421, path);
      assert.equal(r.headers.get("x-frame-options"), "DENY");
      await r.body?.cancel();
    }
    for (const host of ["evil.example:8081", "10.0.0.5:9999", "snoop.lan.evil.example", ""]) {
      assert.equal(await status(app(get("/api/records", { host, ...bearer }))), 421, host);
    }
    for (
      const host of [
        "127.0.0.1:8081",
        "LOCALHOST:8081",
        "localhost",
        "ui.localhost:8081",
        "[::1]:8081",
        "127.0.0.2:8081",
        "10.0.0.5:8081",
        "snoop.lan",
        "snoop.lan:443",
      ]
    ) {
      assert.equal(await status(app(get("/api/records", { host, ...bearer }))), 200, host);
    }
  });
});

Deno.test("access policy: API requests from another site are 403, pages are not", async () => {
  await withApp({ hosts: new Set(), token: TOKEN }, async (app) => {
    const cross: Record<string, string>[] = [
      { origin: "http://evil.example" },
      { origin: "http://evil.example:8081" },
      { origin: "null" },
      { origin: "file://" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
      { origin: "http://127.0.0.1:8081", "sec-fetch-site": "cross-site" },
      // Another server on this machine is another site, though browsers call it same-site.
      { origin: "http://127.0.0.1:3000" },
      { origin: "http://localhost" },
    ];
    for (const h of cross) {
      for (const path of ["/api/records", "/api/events", "/api/stats", "/metrics"]) {
        assert.equal(await status(app(get(path, { ...h, ...bearer }))), 403, JSON.stringify(h));
      }
    }
    const same: Record<string, string>[] = [
      {},
      { origin: "http://127.0.0.1:8081" },
      { origin: "http://localhost:8081", "sec-fetch-site": "same-origin" },
      { "sec-fetch-site": "none" },
    ];
    for (const h of same) {
      assert.equal(await status(app(get("/api/records", { ...h, ...bearer }))), 200);
    }
    // A link from another site to the UI is a navigation: it gets the page (if signed in).
    assert.equal(
      await status(app(get("/", { "sec-fetch-site": "cross-site", ...bearer }))),
      200,
    );
  });
});

Deno.test("access policy: token by bearer, by cookie, and ?token= turned into a cookie", async () => {
  await withApp({ hosts: new Set(), token: TOKEN }, async (app) => {
    for (const path of ["/", "/app.js", "/api/records", "/api/events", "/metrics"]) {
      const r = await app(get(path));
      assert.equal(r.status, 401, path);
      assert.match((await r.json()).error, /token/);
    }
    for (
      const h of <Record<string, string>[]> [
        { authorization: "Bearer wrong" },
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: `Basic ${TOKEN}` },
        { cookie: `snoop_token_8081=${TOKEN.slice(0, -1)}` },
        { cookie: `snoop_token=${TOKEN}` },
        { cookie: `snoop_token_8082=${TOKEN}` },
        { cookie: `other_snoop_token=${TOKEN}` },
      ]
    ) {
      assert.equal(await status(app(get("/api/records", h))), 401, JSON.stringify(h));
    }
    assert.equal(await status(app(get("/?token=wrong"))), 401);
    assert.equal(await status(app(get("/api/records", bearer))), 200);
    assert.equal(await status(app(get("/metrics", bearer))), 200);
    assert.equal(
      await status(app(get("/api/records", { cookie: `a=b; snoop_token_8081=${TOKEN}; c=d` }))),
      200,
    );
    // The token leaves the address bar: 303 to / with an HttpOnly, SameSite=Strict cookie.
    const login = await app(get(`/?token=${TOKEN}`));
    assert.equal(login.status, 303);
    assert.equal(login.headers.get("location"), "/");
    const cookie = login.headers.get("set-cookie")!;
    assert.equal(cookie, `snoop_token_8081=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`);
    const page = await app(get("/", { cookie: cookie.split(";")[0] }));
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script src="\/app.js"/);
    // Public material and the health check need no token, only the right Host.
    assert.equal(await status(app(get("/healthz"))), 200);
    assert.equal(await (await app(get("/healthz"))).text(), "ok");
    assert.equal(await status(app(get("/ca.crt"))), 404, "no CA configured, but not 401");
    assert.equal(await status(app(get("/favicon.svg"))), 200);
  });
});

Deno.test("access policy: token off lets loopback requests in, the Host check stays", async () => {
  await withApp({ hosts: new Set(), token: null }, async (app) => {
    assert.equal(await status(app(get("/api/records"))), 200);
    assert.equal(await status(app(get("/api/records", { host: "evil.example" }))), 421);
    assert.equal(await status(app(get("/api/records", { origin: "http://evil.example" }))), 403);
  });
});

Deno.test("web app: security headers on pages, API and refusals; the body keeps its sandbox", async () => {
  await withApp({ hosts: new Set(), token: TOKEN }, async (app) => {
    const responses = [
      await app(get("/", bearer)),
      await app(get("/app.js", bearer)),
      await app(get("/api/records", bearer)),
      await app(get("/api/records")),
      await app(get("/api/records", { host: "evil.example" })),
      await app(get("/nowhere", bearer)),
    ];
    for (const r of responses) {
      const csp = r.headers.get("content-security-policy")!;
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self';/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
      assert.equal(r.headers.get("referrer-policy"), "no-referrer");
      assert.equal(r.headers.get("x-frame-options"), "DENY");
      await r.body?.cancel();
    }
    const id = (await (await app(get("/api/records", bearer))).json()).records[0].id;
    const body = await app(get(`/api/records/${id}/body/response`, bearer));
    assert.equal(
      body.headers.get("content-security-policy"),
      "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
    );
    assert.equal(body.headers.get("x-frame-options"), "DENY");
    await body.body?.cancel();
    // Only GET and HEAD; a POST is 405 even with the token.
    const post = new Request("http://127.0.0.1:8081/api/records", {
      method: "POST",
      headers: { host: "127.0.0.1:8081", ...bearer },
      body: "{}",
    });
    assert.equal(await status(app(post)), 405);
  });
});

Deno.test("access policy: a Host that cannot make a URL is 400 over a real socket, not a 500", async () => {
  const dir = await Deno.makeTempDir();
  const store = new RecordStore(`${dir}/r.db`);
  const app = createWebApp({ store, access: { hosts: new Set(), token: TOKEN } });
  const abort = new AbortController();
  const { server, addr } = await serveHttp("127.0.0.1", 0, abort.signal, app);
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    await conn.write(
      new TextEncoder().encode(
        "GET /api/stats?token=T-secret HTTP/1.1\r\nHost: 127.0.0.1:99999\r\nConnection: close\r\n\r\n",
      ),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    for (let n; (n = await conn.read(buf)) !== null;) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.doesNotMatch(text, /T-secret/);
  } finally {
    abort.abort();
    await server.finished;
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tokenMatches compares SHA-256 digests: any length, no throw, exact match only", () => {
  // timingSafeEqual on the raw strings would throw on unequal lengths (and a length check
  // before it would leak the length): digests are always 32 bytes.
  assert.equal(tokenMatches(TOKEN, TOKEN), true);
  assert.equal(tokenMatches("", TOKEN), false);
  assert.equal(tokenMatches(TOKEN.slice(0, -1), TOKEN), false);
  assert.equal(tokenMatches(TOKEN + "\0", TOKEN), false);
  assert.equal(tokenMatches("x".repeat(10_000), TOKEN), false);
  assert.equal(tokenMatches("S3CRET-TOKEN", TOKEN), false);
  assert.equal(tokenMatches("é", "é"), true);
});

Deno.test("randomToken: 32 random bytes as base64url", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const t = randomToken();
    assert.match(t, /^[A-Za-z0-9_-]{43}$/);
    seen.add(t);
  }
  assert.equal(seen.size, 100);
});

Deno.test("startToken and startUrl: fixed, off, environment, generated", () => {
  assert.deepEqual(startToken("mine"), { token: "mine", generated: false });
  assert.deepEqual(startToken("off"), { token: null, generated: false });
  const saved = Deno.env.get("SNOOP_UI_TOKEN");
  try {
    Deno.env.set("SNOOP_UI_TOKEN", "from-env");
    assert.deepEqual(startToken(undefined), { token: "from-env", generated: false });
    Deno.env.delete("SNOOP_UI_TOKEN");
    const g = startToken(undefined);
    assert.equal(g.generated, true);
    assert.match(g.token!, /^[A-Za-z0-9_-]{43}$/);
  } finally {
    if (saved !== undefined) Deno.env.set("SNOOP_UI_TOKEN", saved);
  }
  const addr = { transport: "tcp", hostname: "127.0.0.1", port: 8081 } as const;
  assert.equal(startUrl(addr, "T", true), "http://127.0.0.1:8081/?token=T");
  assert.equal(startUrl(addr, "T", false), "http://127.0.0.1:8081/");
  assert.equal(startUrl({ ...addr, hostname: "::1" }, null, true), "http://[::1]:8081/");
  assert.deepEqual(boundHosts({ ...addr, hostname: "10.0.0.5" }), ["10.0.0.5:8081"]);
  assert.deepEqual(boundHosts({ ...addr, hostname: "fd00::5" }), ["[fd00::5]:8081"]);
});

Deno.test("checkAccess: null lets a request through, a Response refuses it", () => {
  const policy = { hosts: new Set(["snoop.lan:8000"]), token: TOKEN };
  const at = (host: string, headers: Record<string, string> = {}) =>
    checkAccess(
      new Request(`http://${host}/api/records`, { headers: { host, ...headers } }),
      policy,
    );
  assert.equal(at("snoop.lan:8000", bearer), null);
  assert.equal(at("snoop.lan:8001", bearer)?.status, 421);
  assert.equal(at("snoop.lan:8000")?.status, 401);
  assert.equal(at("snoop.lan:8000", { ...bearer, origin: "http://snoop.lan:8001" })?.status, 403);
  assert.equal(at("snoop.lan:8000", { ...bearer, origin: "http://snoop.lan:8000" }), null);
});

Deno.test("ui.hosts: names as browsers send them, lower-cased; a URL is an error at its line", () => {
  const yaml = (hosts: string) =>
    `recorders: [{ name: st, store: { path: ":memory:" } }]\nui:\n  store: st\n  hosts: ${hosts}\n`;
  const ok = parseConfigText("ui.yaml", yaml(`[Snoop.LAN, "10.0.0.5:8081", "[fd00::5]"]`));
  assert.deepEqual(ok.ui!.hosts, ["snoop.lan", "10.0.0.5:8081", "[fd00::5]"]);
  for (const bad of [`["http://snoop.lan"]`, `["snoop.lan/ui"]`, `[8081]`, `["a b"]`]) {
    assert.throws(
      () => parseConfigText("ui.yaml", yaml(bad)),
      /ui\.yaml:4.*ui\.hosts\[0\].*without a scheme or path/s,
      bad,
    );
  }
});

Deno.test("checkWrite: a POST must be JSON and from the UI's own origin, or a bearer client", () => {
  const policy: AccessPolicy = { hosts: new Set(), token: TOKEN };
  const post = (headers: Record<string, string>) =>
    new Request("http://127.0.0.1:8081/api/har", {
      method: "POST",
      headers: { host: "127.0.0.1:8081", ...headers },
      body: "{}",
    });
  const json = { "content-type": "application/json" };
  const status = (r: Request) => checkWrite(r, policy, ["application/json"])?.status ?? 200;
  // What a cross-site form can send without a preflight.
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]) {
    assert.equal(status(post({ "content-type": type, origin: "http://127.0.0.1:8081" })), 415);
  }
  assert.equal(status(post({ ...json, origin: "http://127.0.0.1:8081" })), 200);
  assert.equal(
    status(
      post({
        ...json,
        "content-type": "application/json; charset=utf-8",
        origin: "http://127.0.0.1:8081",
      }),
    ),
    200,
  );
  // Another origin, even one on this host (another port): refused.
  for (
    const origin of [
      "http://127.0.0.1:8082",
      "http://localhost:8081",
      "null",
      "https://127.0.0.1:8081",
    ]
  ) {
    assert.equal(status(post({ ...json, origin })), 403, origin);
  }
  // No Origin: not a browser's fetch; it must show the token as a bearer.
  assert.equal(status(post({ ...json })), 403);
  assert.equal(status(post({ ...json, cookie: `snoop_token_8081=${TOKEN}` })), 403);
  assert.equal(status(post({ ...json, authorization: `Bearer ${TOKEN}` })), 200);
  assert.equal(
    status(post({ ...json, authorization: `Bearer ${TOKEN}`, "sec-fetch-site": "same-site" })),
    403,
  );
  // Token off (loopback only): no bearer to show.
  assert.equal(
    checkWrite(post(json), { hosts: new Set(), token: null }, ["application/json"]),
    null,
  );
});
