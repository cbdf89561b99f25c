import assert from "node:assert/strict";
import { App } from "../../src/app/app.ts";
import { ConfigError } from "../../src/config/config_error.ts";
import { mergeConfigs, parseConfigText } from "../../src/config/load.ts";
import { parseServiceUrl } from "../../src/config/service_url.ts";
import { Logger } from "../../src/util/log.ts";

/** Loads and builds (without listening) a config; returns the error message or "ok". */
async function check(yaml: string): Promise<string> {
  try {
    const app = await App.build(mergeConfigs([parseConfigText("snoop.yaml", yaml)]), new Logger());
    await app.stop(0);
    return "ok";
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
}

const golden: [string, string, string][] = [
  [
    "a misspelt key",
    `services:
  - name: s
    addr: :8080
    handler:
      tpye: http
`,
    `snoop.yaml:5:7: services[0].handler.tpye: unknown key "tpye" (did you mean "type"?)`,
  ],
  [
    "a dangling recorder name",
    `services:
  - name: s
    addr: :8080
    handler: { type: http }
    recorders:
      - name: recorder-1
recorders:
  - name: recorder-0
    http: { url: http://localhost:8000 }
`,
    `snoop.yaml:6:9: services[0].recorders[0]: recorder "recorder-1" is not defined in any top-level recorders: list`,
  ],
  [
    "an http recorder batch that is not a whole number of records",
    `recorders:
  - name: central
    http:
      url: http://localhost:8000
      batch: 2.5
`,
    `snoop.yaml:5:7: recorders[0].http.batch: expected a whole number of records per POST, 0 (one record per POST) to 10000`,
  ],
  [
    "a duration that cannot be read",
    `services:
  - name: s
    addr: :8080
    handler:
      type: http
      metadata:
        sniffing.timeout: soon
`,
    `snoop.yaml:7:9: services[0].handler.metadata.sniffing.timeout: expected a duration such as "3s", "500ms", "1m30s" or a number of seconds, got "soon"`,
  ],
  [
    "a boolean that cannot be read",
    `services:
  - name: s
    addr: :8080
    handler:
      type: http
      metadata:
        sniffing: maybe
`,
    `snoop.yaml:7:9: services[0].handler.metadata.sniffing: expected true or false, got "maybe"`,
  ],
  [
    "an option no handler reads",
    `services:
  - name: s
    addr: :8080
    handler:
      type: http
      metadata:
        snifing: true
`,
    `snoop.yaml:7:9: services[0].handler.metadata.snifing: unknown option "snifing"`,
  ],
  [
    "a GOST option snoop does not implement",
    `services:
  - name: s
    addr: :8080
    handler:
      type: socks5
      metadata:
        probeResistance: code:404
`,
    `snoop.yaml:7:9: services[0].handler.metadata.probeResistance: option "probeResistance" is not supported by snoop`,
  ],
  [
    "a GOST handler snoop does not implement",
    `services:
  - name: s
    addr: :8080
    handler: { type: relay }
`,
    `snoop.yaml:4:16: services[0].handler.type: handler type "relay" is not supported by snoop`,
  ],
  [
    "a GOST top-level section snoop does not implement",
    `hops:
  - name: h
services: []
`,
    `snoop.yaml:1:1: hops: "hops" is not supported by snoop`,
  ],
  [
    "duplicate service names",
    `services:
  - { name: s, addr: ":1", handler: { type: http } }
  - { name: s, addr: ":2", handler: { type: http } }
`,
    `snoop.yaml:3:5: services[1]: duplicate service name "s" (first at snoop.yaml:2)`,
  ],
  [
    "a YAML syntax error",
    `services:
  - name: s
   addr: :8080
`,
    `snoop.yaml:3:1: Sequence item without - indicator`,
  ],
  [
    "a recorder metadata value out of range",
    `services:
  - name: s
    addr: :8080
    handler: { type: http }
    recorders:
      - name: r
        metadata: { http.maxBodySize: -5 }
recorders: [{ name: r, file: { path: /tmp/x } }]
`,
    `snoop.yaml:7:21: services[0].recorders[0].metadata.http.maxBodySize: expected a whole number in 1..67108864, got -5`,
  ],
  [
    "a missing required key",
    `services:
  - name: s
    handler: { type: http }
`,
    `snoop.yaml:2:5: services[0]: missing required key "addr"`,
  ],
  [
    "a MITM CA file that does not exist",
    `services:
  - name: s
    addr: :8080
    handler:
      type: http
      metadata:
        sniffing: true
        mitm.certFile: /nonexistent/ca.crt
        mitm.keyFile: /nonexistent/ca.key
`,
    `snoop.yaml:8:9: services[0].handler.metadata.mitm.certFile: /nonexistent/ca.crt: file not found`,
  ],
  [
    "a MITM key without its certificate",
    `services:
  - name: s
    addr: :8080
    handler:
      type: http
      metadata:
        mitm.keyFile: ca.key
`,
    `snoop.yaml:7:9: services[0].handler.metadata.mitm.keyFile: mitm.certFile must be set too`,
  ],
];

for (const [what, yaml, expected] of golden) {
  Deno.test(`config error for ${what} names the file, line, key and problem`, async () => {
    assert.equal(await check(yaml), expected);
  });
}

Deno.test("config accepts the seed page's two YAML examples' shape and keys case-insensitively", async () => {
  for (const file of ["examples/seed-sniffing.yaml"]) {
    const yaml = await Deno.readTextFile(file);
    assert.equal(await check(yaml), "ok", file);
  }
  assert.equal(
    await check(
      `services: [{ name: s, addr: ":1", handler: { type: http, metadata: { SNIFFING: "true", Sniffing.Timeout: 3 } } }]`,
    ),
    "ok",
  );
});

Deno.test("-L URLs map to GOST's handler, listener, auth, targets and options", () => {
  const { service } = parseServiceUrl(
    "http://user:pa%40ss@127.0.0.1:8080?sniffing=true&handler.readTimeout=5s",
    0,
  );
  assert.equal(service.name, "service-0");
  assert.equal(service.handler.type, "http");
  assert.equal(service.listener.type, "tcp");
  assert.equal(service.addr, "127.0.0.1:8080");
  assert.deepEqual(service.handler.auth, { username: "user", password: "pa@ss" });
  assert.equal(service.handler.metadata.bool("sniffing", false), true);
  assert.equal(service.handler.metadata.duration("readTimeout", 0), 5000);
  const auto = parseServiceUrl(":8080", 1).service;
  assert.equal(auto.handler.type, "auto");
  const fwd = parseServiceUrl("tcp://:2222/127.0.0.1:22,127.0.0.1:23", 2).service;
  assert.deepEqual(fwd.forwarder.nodes.map((n) => n.addr), ["127.0.0.1:22", "127.0.0.1:23"]);
  const withAuth = parseServiceUrl(`socks5://:1080?auth=${btoa("a:b")}&bypass=~.example.com`, 3);
  assert.deepEqual(withAuth.service.handler.auth, { username: "a", password: "b" });
  assert.deepEqual(withAuth.bypasses[0].matchers, [".example.com"]);
  assert.equal(withAuth.bypasses[0].whitelist, true);
  assert.throws(() => parseServiceUrl("http://localhost", 0), /needs a port/);
});
