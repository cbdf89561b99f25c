import assert from "node:assert/strict";
import { bodyResponse, safeMediaType } from "../../src/web/body_response.ts";

Deno.test("body response: a recorded Content-Type is served as a plain type/subtype or as bytes", () => {
  const cases: [recorded: string, served: string][] = [
    ["text/html; charset=utf-8", "text/html"],
    ["Image/PNG", "image/png"],
    ["application/vnd.api+json", "application/vnd.api+json"],
    ["text/html, image/png", "application/octet-stream"],
    ["text/html\r\nX-Injected: 1", "application/octet-stream"],
    ["nonsense", "application/octet-stream"],
    ["", "application/octet-stream"],
  ];
  for (const [recorded, served] of cases) assert.equal(safeMediaType(recorded), served, recorded);
});

Deno.test("body response: a recorded page gets a sandbox that loads nothing from anywhere", async () => {
  const html =
    '<img src="http://127.0.0.2:9/seen"><link rel=stylesheet href="http://127.0.0.2:9/css">';
  const rec = {
    http: {
      response: {
        header: { "Content-Type": ["text/html, image/svg+xml"] },
        body: btoa(html),
      },
    },
  };
  const res = await bodyResponse(rec, "response");
  assert.equal(res.headers.get("content-type"), "application/octet-stream");
  const csp = res.headers.get("content-security-policy")!;
  assert.match(csp, /^sandbox;/);
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /img-src[^;]*(http|\*|'self')/);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(await res.text(), html);
});
