/**
 * Smoke checks of a built snoop artifact (the bundle, a compiled binary, the container's
 * entrypoint), meant to run inside a fresh network namespace (`unshare -n`): nothing else
 * listens there, so the seed example runs unchanged on :8080 with its webhook on
 * localhost:8000, and nothing outside can be reached, so an artifact that still needs the
 * network (npm, JSR, Deno's servers) fails here.
 *
 *   deno run --allow-all tests/helpers/smoke_driver.ts <work dir> <snoop argv...>
 *
 * The artifact runs with the environment of this process plus SNOOP_HOME=<work dir>/home;
 * set DENO_DIR to an empty directory before calling. This file imports nothing: it runs
 * next to the artifact, not from it. Each check prints `SMOKE OK <name>`; the first failure
 * prints `SMOKE FAIL <name>: why` and exits 1. Every wait has a deadline.
 */

const [work, ...snoop] = Deno.args;
if (!work || snoop.length === 0) {
  console.error("usage: smoke_driver.ts <work dir> <snoop argv...>");
  Deno.exit(2);
}
const repo = new URL("../../", import.meta.url).pathname;
const home = `${work}/home`;
Deno.mkdirSync(home, { recursive: true });

const started: { child: Deno.ChildProcess; log: string[] }[] = [];

/**
 * Container mode (tests/e2e/container_test.ts): `SMOKE_CONTAINER` holds the Containerfile's
 * command lines mapped onto this machine, run with exactly its environment.
 */
interface ContainerPlan {
  /** ENTRYPOINT, behind a non-root prefix (setpriv). */
  entrypoint: string[];
  cmd: string[];
  /** The first-run CA command of docs/container.md, after the entrypoint. */
  caArgs: string[];
  /** HEALTHCHECK's command, behind the same prefix. */
  health: string[];
  env: Record<string, string>;
  /** The UI token the test put in the environment. */
  token: string;
  /** Where /data is. */
  data: string;
  /** The uid the container runs as. */
  uid: number;
}
const plan: ContainerPlan | undefined = Deno.env.get("SMOKE_CONTAINER")
  ? JSON.parse(Deno.env.get("SMOKE_CONTAINER")!)
  : undefined;

function fail(step: string, why: string): never {
  console.log(`SMOKE FAIL ${step}: ${why}`);
  for (const s of started) {
    try {
      s.child.kill("SIGKILL");
    } catch { /* gone */ }
    console.log(`--- snoop output ---\n${s.log.join("").slice(-4000)}`);
  }
  Deno.exit(1);
}

async function sh(cmd: string, args: string[], timeoutMs = 20_000, env?: Record<string, string>) {
  const child = new Deno.Command(cmd, {
    args,
    env,
    clearEnv: !!env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Starts the artifact with extra arguments; its output is kept for failures. */
function startSnoop(args: string[], argv = snoop) {
  const child = new Deno.Command(argv[0], {
    args: [...argv.slice(1), ...args],
    env: plan ? plan.env : { SNOOP_HOME: home },
    clearEnv: !!plan,
    // Not the repository: a deno.json there must not be what makes the artifact work.
    cwd: work,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const s = { child, log: [] as string[] };
  started.push(s);
  for (const stream of [child.stdout, child.stderr]) {
    (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) s.log.push(chunk);
    })().catch(() => {});
  }
  return s;
}

async function stopSnoop(s: ReturnType<typeof startSnoop>, step: string) {
  s.child.kill("SIGTERM");
  const timer = setTimeout(() => s.child.kill("SIGKILL"), 15_000);
  const status = await s.child.status;
  clearTimeout(timer);
  started.splice(started.indexOf(s), 1);
  if (!status.success && status.signal !== "SIGTERM") {
    fail(step, `snoop exited ${status.code} after SIGTERM:\n${s.log.join("").slice(-3000)}`);
  }
}

async function waitPort(port: number, s: ReturnType<typeof startSnoop>, step: string) {
  const deadline = Date.now() + 30_000;
  let exited = false;
  s.child.status.then(() => exited = true);
  while (Date.now() < deadline) {
    if (exited) fail(step, `snoop exited before listening:\n${s.log.join("").slice(-3000)}`);
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  fail(step, `nothing listens on ${port} after 30 s`);
}

/** The seed's webhook address is localhost:8000: listen on both loopback families. */
const records: Record<string, unknown>[] = [];
const hooks = ["127.0.0.1", "::1"].map((hostname) =>
  Deno.serve({ hostname, port: 8000, onListen() {} }, async (req) => {
    const parsed = JSON.parse(await req.text());
    records.push(...(Array.isArray(parsed) ? parsed : [parsed]));
    return new Response("ok");
  })
);

async function waitRecord(step: string, pred: (r: Record<string, unknown>) => boolean) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const r = records.find(pred);
    if (r) return r;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(step, `no matching record; got ${JSON.stringify(records).slice(0, 2000)}`);
}

const origin = Deno.serve(
  { hostname: "127.0.0.1", port: 9000, onListen() {} },
  async (req) => {
    const path = new URL(req.url).pathname;
    if (path !== "/gz") return new Response(`hello from origin ${path}`);
    // A gzip body: the UI's body endpoint decodes it in its worker.
    const gz = new Blob(["decoded in the worker"]).stream()
      .pipeThrough(new CompressionStream("gzip"));
    return new Response(await new Response(gz).arrayBuffer(), {
      headers: { "content-encoding": "gzip", "content-type": "text/plain" },
    });
  },
);

if (plan) {
  // The container's first run: the CA into /data, then the entrypoint with its CMD.
  const step = "container";
  const ca = startSnoop(plan.caArgs, plan.entrypoint);
  const caStatus = await ca.child.status;
  started.splice(started.indexOf(ca), 1);
  if (!caStatus.success) fail(step, `the CA command failed: ${ca.log.join("")}`);
  const s = startSnoop(plan.cmd, plan.entrypoint);
  await waitPort(8080, s, step);
  await waitPort(8081, s, step);
  const health = await sh(plan.health[0], plan.health.slice(1), 20_000, plan.env);
  if (health.code !== 0) fail(step, `HEALTHCHECK failed: ${JSON.stringify(health)}`);
  const r = await sh("curl", [
    "-s",
    "--max-time",
    "15",
    "-x",
    "http://127.0.0.1:8080",
    "http://127.0.0.1:9000/contained",
  ]);
  if (r.stdout !== "hello from origin /contained") fail(step, `curl said ${JSON.stringify(r)}`);
  const ui = "http://127.0.0.1:8081";
  const denied = await sh("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `${ui}/`]);
  if (denied.stdout !== "401") fail(step, `/ without the token answered ${denied.stdout}`);
  const auth = ["-H", `Authorization: Bearer ${plan.token}`];
  const page = await sh("curl", ["-s", "--max-time", "10", ...auth, `${ui}/`]);
  if (!/<html/i.test(page.stdout)) fail(step, `/ with the token: ${page.stdout.slice(0, 300)}`);
  let listed = "";
  for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
    listed = (await sh("curl", ["-s", "--max-time", "10", ...auth, `${ui}/api/records`])).stdout;
    if (listed.includes("/contained")) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!listed.includes("/contained")) fail(step, `not in the store: ${listed.slice(0, 500)}`);
  // Everything snoop wrote to the volume belongs to the container's user, not root.
  for (const f of ["ca.crt", "ca.key", "records.db"]) {
    const uid = Deno.statSync(`${plan.data}/${f}`).uid;
    if (uid !== plan.uid) fail(step, `${f} belongs to uid ${uid}`);
  }
  await stopSnoop(s, step);
  console.log(`SMOKE OK ${step}`);
  await origin.shutdown();
  for (const h of hooks) await h.shutdown();
  console.log("SMOKE DONE");
  Deno.exit(0);
}

// 1. The seed's first example, unchanged: an HTTP proxy on :8080, records to localhost:8000.
{
  const step = "seed-sniffing";
  const s = startSnoop(["-C", `${repo}examples/seed-sniffing.yaml`]);
  await waitPort(8080, s, step);
  const r = await sh("curl", [
    "-s",
    "--max-time",
    "15",
    "-x",
    "http://127.0.0.1:8080",
    "http://127.0.0.1:9000/plain",
  ]);
  if (r.stdout !== "hello from origin /plain") fail(step, `curl said ${JSON.stringify(r)}`);
  const rec = await waitRecord(
    step,
    (x) => String((x.http as { uri?: string })?.uri).endsWith("/plain"),
  );
  const body = (rec.http as { response: { body: string } }).response.body;
  if (atob(body) !== "hello from origin /plain") fail(step, `recorded body ${body}`);
  await stopSnoop(s, step);
  console.log(`SMOKE OK ${step}`);
}

// 2. MITM: a CA made by the artifact, TLS to an origin it trusts through mitm.upstreamCA,
//    curl trusting only snoop's CA.
{
  const step = "mitm";
  const ca = await sh(snoop[0], [...snoop.slice(1), "ca", "--dir", `${work}/ca`]);
  // (run from the test's cwd; the artifact ignores it)
  if (ca.code !== 0) fail(step, `snoop ca: ${ca.stderr}`);
  const o = await sh("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${work}/origin.key`,
    "-out",
    `${work}/origin.crt`,
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]);
  if (o.code !== 0) fail(step, `openssl: ${o.stderr}`);
  const tlsOrigin = Deno.serve({
    hostname: "127.0.0.1",
    port: 8443,
    cert: Deno.readTextFileSync(`${work}/origin.crt`),
    key: Deno.readTextFileSync(`${work}/origin.key`),
    onListen() {},
  }, (req) => new Response(`hello over tls ${new URL(req.url).pathname}`));
  const yaml = `${work}/mitm.yaml`;
  Deno.writeTextFileSync(
    yaml,
    `services:
  - name: mitm
    addr: 127.0.0.1:8080
    recorders: [{ name: hook, record: recorder.service.handler, metadata: { http.body: true } }]
    handler:
      type: http
      metadata:
        sniffing: true
        mitm.certFile: ${work}/ca/ca.crt
        mitm.keyFile: ${work}/ca/ca.key
        mitm.upstreamCA: ${work}/origin.crt
recorders: [{ name: hook, http: { url: "http://127.0.0.1:8000", timeout: 1s } }]
`,
  );
  const s = startSnoop(["-C", yaml]);
  await waitPort(8080, s, step);
  const r = await sh("curl", [
    "-s",
    "--max-time",
    "15",
    "--cacert",
    `${work}/ca/ca.crt`,
    "-x",
    "http://127.0.0.1:8080",
    "https://localhost:8443/secret",
  ]);
  if (r.stdout !== "hello over tls /secret") fail(step, `curl said ${JSON.stringify(r)}`);
  const rec = await waitRecord(step, (x) => (x.http as { uri?: string })?.uri === "/secret");
  if (!(rec.tls as { serverName?: string })?.serverName) fail(step, "no tls in the record");
  await stopSnoop(s, step);
  await tlsOrigin.shutdown();
  console.log(`SMOKE OK ${step}`);
}

// 3. The main job: proxy on 127.0.0.1:8080 recording into the store (its worker), the UI on
//    127.0.0.1:8081 (its files, /healthz, the token).
{
  const step = "ui";
  const s = startSnoop([]);
  await waitPort(8081, s, step);
  await waitPort(8080, s, step);
  const r = await sh("curl", [
    "-s",
    "--max-time",
    "15",
    "-x",
    "http://127.0.0.1:8080",
    "http://127.0.0.1:9000/stored",
  ]);
  if (r.stdout !== "hello from origin /stored") {
    fail(step, `curl through the main job: ${JSON.stringify(r)}`);
  }
  const ui = "http://127.0.0.1:8081";
  const health = await sh("curl", [
    "-s",
    "--max-time",
    "10",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    `${ui}/healthz`,
  ]);
  const hasHealthz = health.stdout === "200";
  if (!hasHealthz && health.stdout !== "404") fail(step, `/healthz answered ${health.stdout}`);
  // The token, when snoop prints one (the UI's address with ?token=).
  await new Promise((r) => setTimeout(r, 200));
  const token = /[?&]token=([A-Za-z0-9_~.-]+)/.exec(s.log.join(""))?.[1];
  const auth = token ? ["-H", `Authorization: Bearer ${token}`] : [];
  const page = await sh("curl", ["-s", "--max-time", "10", ...auth, `${ui}/`]);
  if (!/<html/i.test(page.stdout)) {
    fail(step, `/ did not serve the UI: ${page.stdout.slice(0, 300)}`);
  }
  const deadline = Date.now() + 15_000;
  let listed = "";
  while (Date.now() < deadline) {
    listed = (await sh("curl", ["-s", "--max-time", "10", ...auth, `${ui}/api/records`])).stdout;
    if (listed.includes("/stored")) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!listed.includes("/stored")) {
    fail(step, `the store did not list the request: ${listed.slice(0, 500)}`);
  }
  // The body decoder's worker: a gzip response, decoded by the UI.
  await sh("curl", [
    "-s",
    "--max-time",
    "15",
    "-x",
    "http://127.0.0.1:8080",
    "http://127.0.0.1:9000/gz",
  ]);
  let decoded = "";
  for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
    const list = JSON.parse(
      (await sh("curl", ["-s", "--max-time", "10", ...auth, `${ui}/api/records`])).stdout,
    );
    const rows: { id: number }[] = Array.isArray(list) ? list : list.records ?? [];
    const row = rows.find((r) => JSON.stringify(r).includes("/gz"));
    if (row) {
      decoded = (await sh("curl", [
        "-s",
        "--max-time",
        "10",
        ...auth,
        `${ui}/api/records/${row.id}/body/response`,
      ])).stdout;
      if (decoded.includes("decoded in the worker")) break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!decoded.includes("decoded in the worker")) {
    fail(step, `body endpoint: ${decoded.slice(0, 300)}`);
  }
  await stopSnoop(s, step);
  console.log(
    `SMOKE OK ${step}${hasHealthz ? " healthz" : " (no /healthz yet)"}${token ? " token" : ""}`,
  );
}

await origin.shutdown();
for (const h of hooks) await h.shutdown();
console.log("SMOKE DONE");
