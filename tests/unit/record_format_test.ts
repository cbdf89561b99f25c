import assert from "node:assert/strict";
import fc from "fast-check";
import { type HandlerRecord, recordToJSON } from "../../src/record/record.ts";
import { formatRFC3339Nano } from "../../src/record/time.ts";

Deno.test("recordToJSON: the seed page's CONNECT record, byte for byte", () => {
  const r: HandlerRecord = {
    service: "service-0",
    network: "tcp",
    remote: "[::1]:47762",
    local: "[::1]:8080",
    client: "[::1]:47762",
    src: "",
    dst: "",
    host: "www.example.com:443",
    proto: "tls",
    clientIP: "",
    http: {
      host: "www.example.com:443",
      method: "CONNECT",
      proto: "HTTP/1.1",
      scheme: "",
      uri: "www.example.com:443",
      statusCode: 200,
      request: {
        contentLength: 0,
        header: { "Proxy-Connection": ["Keep-Alive"], "User-Agent": ["curl/8.5.0"] },
        body: null,
      },
      response: { contentLength: 0, header: { "Proxy-Agent": ["gost/3.0"] }, body: null },
    },
    tls: {
      serverName: "www.example.com",
      cipherSuite: "TLS_CHACHA20_POLY1305_SHA256",
      compressionMethod: 0,
      proto: "h2",
      version: "tls1.3",
      clientHello: "16030102",
      serverHello: "16030300",
    },
    route: "www.example.com:443",
    inputBytes: 10,
    outputBytes: 20,
    err: "a <b> & c",
    sid: "crugtkkdfur6asj5vbtg",
    duration: 605161979,
    time: 0n,
  };
  const json = recordToJSON(r);
  assert.ok(
    json.startsWith(
      '{"service":"service-0","network":"tcp","remote":"[::1]:47762","local":"[::1]:8080","client":"[::1]:47762","src":"","dst":"","host":"www.example.com:443","proto":"tls","clientIP":"","http":{"host":"www.example.com:443","method":"CONNECT","proto":"HTTP/1.1","scheme":"","uri":"www.example.com:443","statusCode":200,"request":{"contentLength":0,"header":{"Proxy-Connection":["Keep-Alive"],"User-Agent":["curl/8.5.0"]},"body":null},"response":{"contentLength":0,"header":{"Proxy-Agent":["gost/3.0"]},"body":null}},"tls":{"serverName":"www.example.com","cipherSuite":"TLS_CHACHA20_POLY1305_SHA256","compressionMethod":0,"proto":"h2","version":"tls1.3","clientHello":"16030102","serverHello":"16030300"},"route":"www.example.com:443","inputBytes":10,"outputBytes":20,"err":"a \\u003cb\\u003e \\u0026 c","sid":"crugtkkdfur6asj5vbtg","duration":605161979,"time":"',
    ),
    json,
  );
  assert.deepEqual(JSON.parse(json).http.request.header["User-Agent"], ["curl/8.5.0"]);
});

Deno.test("formatRFC3339Nano: the same text whether the second was cached or not", () => {
  const pad = (n: number) => String(n).padStart(2, "0");
  // Computed afresh every time: local time, Go's trimmed fraction, the zone offset.
  const fresh = (nanos: bigint) => {
    const d = new Date(Number(nanos / 1_000_000n));
    const frac = Number(nanos % 1_000_000_000n);
    const off = -d.getTimezoneOffset();
    const zone = off === 0
      ? "Z"
      : `${off > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${
      pad(d.getMinutes())
    }:${pad(d.getSeconds())}${
      frac === 0 ? "" : "." + String(frac).padStart(9, "0").replace(/0+$/, "")
    }${zone}`;
  };
  // Runs of times within one second (served from the cache) and jumps between seconds.
  const second = fc.bigInt({ min: 0n, max: 4_000_000_000n }).map((s) => s * 1_000_000_000n);
  const times = fc.tuple(second, fc.array(fc.bigInt({ min: 0n, max: 999_999_999n }))).map((
    [s, offsets],
  ) => offsets.map((o) => s + o));
  fc.assert(
    fc.property(fc.array(times), (runs) => {
      for (const t of runs.flat()) assert.equal(formatRFC3339Nano(t), fresh(t));
    }),
  );
  // The seed record's time: nanoseconds kept, trailing zeros trimmed (…539320 → …53932).
  assert.match(formatRFC3339Nano(1_727_860_434_455_539_320n), /:54\.45553932(Z|[+-]\d\d:\d\d)$/);
});

Deno.test("formatRFC3339Nano: the first time a process formats may fall in any second, 1970's first too", async () => {
  // A fresh process: nothing cached yet.
  const script = `import { formatRFC3339Nano } from "${
    new URL("../../src/record/time.ts", import.meta.url).href
  }"; console.log(formatRFC3339Nano(5n), formatRFC3339Nano(1_000_000_000n));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env: { TZ: "UTC" },
    stdout: "piped",
  }).output();
  assert.equal(
    new TextDecoder().decode(out.stdout).trim(),
    "1970-01-01T00:00:00.000000005Z 1970-01-01T00:00:01Z",
  );
});
