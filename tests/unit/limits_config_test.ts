import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/config_error.ts";
import { mergeConfigs, parseConfigText } from "../../src/config/load.ts";

const parse = (yaml: string) => mergeConfigs([parseConfigText("snoop.yaml", yaml)]);
const error = (yaml: string) => {
  try {
    parse(yaml);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return "ok";
};

Deno.test("limits.captureBudget takes bytes or a binary unit", () => {
  assert.equal(parse("limits: { captureBudget: 1048576 }").limits?.captureBudget, 1048576);
  assert.equal(parse("limits: { captureBudget: 64MiB }").limits?.captureBudget, 64 * 1048576);
  assert.equal(parse('limits: { captureBudget: "512 KiB" }').limits?.captureBudget, 512 * 1024);
  assert.equal(parse("limits: { captureBudget: 0 }").limits?.captureBudget, 0);
  assert.equal(parse("services: []").limits, undefined);
});

Deno.test("limits.captureBudget that cannot be read names the file, line and key", () => {
  assert.equal(
    error("log: { level: info }\nlimits:\n  captureBudget: 64MB\n"),
    `snoop.yaml:3:3: limits.captureBudget: expected a size from 0 bytes to 16384 MiB, as bytes or with a unit (B, KiB, MiB, GiB) such as "64MiB", got "64MB"`,
  );
  assert.match(
    error("limits: { captureBudget: -1 }"),
    /^snoop\.yaml:1:\d+: limits\.captureBudget:/,
  );
  assert.match(error("limits: { captureBuget: 1 }"), /limits\.captureBuget/);
});

Deno.test("ui.maxDecodedBody defaults to 16 MiB and is checked", () => {
  const ui = (extra: string) =>
    `recorders: [{ name: s, store: { path: ":memory:" } }]\nui: { store: s${extra} }\n`;
  assert.equal(parse(ui("")).ui?.maxDecodedBody, 16 * 1048576);
  assert.equal(parse(ui(", maxDecodedBody: 1MiB")).ui?.maxDecodedBody, 1048576);
  assert.match(
    error(ui(", maxDecodedBody: 0")),
    /^snoop\.yaml:2:\d+: ui\.maxDecodedBody: expected a size/,
  );
});
