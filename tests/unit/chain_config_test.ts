/**
 * Chains in configuration files and `-F` URLs: what is read, what is refused and where,
 * and the checks on a target reached through a chain.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/cli/cli.ts";
import { parseChainUrls } from "../../src/config/chain_config.ts";
import { ConfigError } from "../../src/config/config_error.ts";
import { mergeConfigs, parseConfigText } from "../../src/config/load.ts";
import { Bypass } from "../../src/bypass/bypass.ts";
import { ChainDialer, checkTarget } from "../../src/net/chain/chain.ts";
import { EgressGuard } from "../../src/net/egress_guard.ts";

const load = (yaml: string) => mergeConfigs([parseConfigText("t.yaml", yaml)]);

const service = (extra: string, type = "http") => `
services:
  - name: s
    addr: 127.0.0.1:0
    handler: { type: ${type}, chain: c ${extra} }
`;

const chainYaml = (node: string) => `
chains:
  - name: c
    hops:
      - name: h0
        nodes:
          - ${node}
`;

function refused(yaml: string, pattern: RegExp) {
  assert.throws(() => load(yaml), (e) => e instanceof ConfigError && pattern.test(e.message));
}

Deno.test("chain config: GOST's chain YAML is read and the service gets its chain", () => {
  const config = load(
    service("") + `
chains:
  - name: c
    hops:
      - name: hop-0
        bypass: b
        nodes:
          - name: node-0
            addr: 192.168.1.1:8080
            connector: { type: http, auth: { username: u, password: p } }
            dialer: { type: tcp }
          - { name: node-1, addr: "[::1]:1080", connector: { type: socks5 } }
bypasses: [{ name: b, matchers: [.internal] }]
`,
  );
  const chain = config.services[0].handler.chain?.config;
  assert.equal(chain?.name, "c");
  assert.equal(chain.hops[0].bypass?.name, "b");
  assert.deepEqual(chain.hops[0].nodes.map((n) => [n.name, n.addr, n.connector.type]), [
    ["node-0", "192.168.1.1:8080", "http"],
    ["node-1", "[::1]:1080", "socks5"],
  ]);
  assert.deepEqual(chain.hops[0].nodes[0].connector.auth, { username: "u", password: "p" });
});

Deno.test("chain config: mistakes are refused at their place", () => {
  refused(service(""), /chain "c" is not defined/);
  refused(service("") + chainYaml("{ addr: 10.0.0.1:1, connector: { type: relay } }"), /relay/);
  refused(service("") + chainYaml("{ addr: 10.0.0.1:1, dialer: { type: tls } }"), /dialer/);
  refused(service("") + chainYaml("{ addr: 10.0.0.1 }"), /not host:port/);
  refused(service("") + chainYaml("{ addr: 10.0.0.1:1, bypass: nope }"), /bypass "nope"/);
  refused(service("", "dns") + chainYaml("{ addr: 10.0.0.1:1 }"), /dns handler/);
  refused(
    service("") + "chains: [{ name: c, hops: [{ name: h }] }]\n",
    /has no nodes.*top-level hops/,
  );
  refused("hops: []\n", /"hops" is not supported/);
  refused(
    service("") + chainYaml("{ addr: 10.0.0.1:1 }") + chainYaml("{ addr: 10.0.0.2:1 }")
      .replace("chains:\n", ""),
    /duplicate chain name "c"/,
  );
});

Deno.test("chain config: -F URLs are hops in order, several addresses several nodes", () => {
  const { chain, bypasses } = parseChainUrls([
    "http://user:p%40ss@10.0.0.1:3128?bypass=~.corp.example",
    "socks5+tcp://10.0.0.2:1080,10.0.0.3:1080",
  ]);
  assert.equal(chain.name, "chain-0");
  assert.deepEqual(chain.hops.map((h) => h.name), ["hop-0", "hop-1"]);
  assert.deepEqual(chain.hops[0].nodes[0].connector, {
    type: "http",
    auth: { username: "user", password: "p@ss" },
  });
  assert.equal(bypasses[0].whitelist, true);
  assert.deepEqual(bypasses[0].matchers, [".corp.example"]);
  assert.equal(chain.hops[0].bypass?.name, bypasses[0].name);
  assert.deepEqual(chain.hops[1].nodes.map((n) => n.addr), ["10.0.0.2:1080", "10.0.0.3:1080"]);
  assert.throws(() => parseChainUrls(["relay://10.0.0.1:1"]), /not supported/);
  assert.throws(() => parseChainUrls(["http://10.0.0.1:1?retries=3"]), /retries/);
  // The password is not repeated in messages.
  assert.throws(
    () => parseChainUrls(["ss://user:hunter2@10.0.0.1:1"]),
    (e) => e instanceof ConfigError && !e.message.includes("hunter2"),
  );
});

Deno.test("chain config: -F needs services to apply to", async () => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(
      file,
      "services: [{ name: s, addr: ':0', handler: { type: http } }]\n",
    );
    await assert.rejects(
      () => loadConfig([file], [], ["http://10.0.0.1:3128"]),
      (e) => e instanceof ConfigError && /-F applies to -L services/.test(e.message),
    );
    const config = await loadConfig([file], ["http://127.0.0.1:0"], ["http://10.0.0.1:3128"]);
    assert.equal(config.services[0].handler.chain, undefined, "the -C service keeps its own");
    assert.equal(config.services[1].handler.chain?.config?.hops[0].nodes[0].addr, "10.0.0.1:3128");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("chain: hop and node bypasses cut the route; nodes take turns", () => {
  const config = load(
    service("") + `
chains:
  - name: c
    hops:
      - name: h0
        nodes: [{ name: a, addr: "10.0.0.1:1" }, { name: b, addr: "10.0.0.2:1", bypass: nb }]
      - name: h1
        bypass: hb
        nodes: [{ name: c, addr: "10.0.0.3:1" }]
bypasses:
  - { name: nb, matchers: [skip-b.example] }
  - { name: hb, matchers: [direct-after-h0.example] }
`,
  );
  const bypasses = new Map(config.bypasses.map((b) => [b.name, Bypass.fromConfig(b)]));
  const dialer = new ChainDialer(config.services[0].handler.chain!.config!, bypasses);
  const names = (t: string) => dialer.select(t).map((h) => h.nodes.map((n) => n.name));
  assert.deepEqual(names("x.example:443"), [["a", "b"], ["c"]]);
  assert.deepEqual(names("x.example:443"), [["b", "a"], ["c"]]);
  assert.deepEqual(names("skip-b.example:443"), [["a"], ["c"]]);
  // h1's bypass: the route ends after h0, whose node h0 then asks for the target.
  assert.deepEqual(names("direct-after-h0.example:443"), [["b", "a"]]);
});

Deno.test("chain: the target is checked by address where it can be, by name otherwise", async () => {
  const egress = EgressGuard.create(["loopback", "private"], []);
  assert.ok(egress instanceof EgressGuard);
  const guard = { self: null, egress };
  const resolver = (answers: Record<string, string[]>) => (name: string) =>
    answers[name] ? Promise.resolve(answers[name]) : Promise.reject(new Error("ENOTFOUND"));
  // Literals and localhost names, whatever DNS would say.
  await assert.rejects(() => checkTarget("127.1", 80, guard, resolver({})), /denied/);
  await assert.rejects(() => checkTarget("api.localhost", 80, guard, resolver({})), /denied/);
  await assert.rejects(() => checkTarget("[::ffff:10.0.0.1]", 80, guard, resolver({})), /denied/);
  // A name is resolved here only for the egress list, and refused when any address is denied
  // or when it cannot be resolved here.
  await assert.rejects(
    () => checkTarget("in.example", 80, guard, resolver({ "in.example": ["8.8.8.8", "10.1.1.1"] })),
    /resolves to 10\.1\.1\.1/,
  );
  await assert.rejects(
    () => checkTarget("only-upstream.example", 80, guard, resolver({})),
    /not resolvable here/,
  );
  await checkTarget("out.example", 443, guard, resolver({ "out.example": ["93.184.215.14"] }));
  // No egress list: the name goes to the upstream without a lookup here.
  await checkTarget("only-upstream.example", 443, { self: null }, () => {
    throw new Error("looked up");
  });
});
