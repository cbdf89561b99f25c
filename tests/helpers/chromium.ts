/**
 * Headless Chromium, bounded for sure: output goes to files (its helper processes would
 * hold a pipe open past a kill), and the deadline kills every process of this run's
 * profile. Flags as this machine's notes say, plus the background fetches switched off.
 */
export async function headlessChromium(
  home: string,
  args: string[],
  timeoutMs = 45_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const profile = `${home}/profile`;
  const out = `${home}/chromium.out`, err = `${home}/chromium.err`;
  const flags = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--no-pings",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
    `--user-data-dir=${profile}`,
    ...args,
  ];
  const quoted = flags.map((f) => `'${f.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("sh", {
    args: ["-c", `exec chromium ${quoted} > '${out}' 2> '${err}'`],
    // TMPDIR too: Chromium leaves org.chromium.Chromium.* (its singleton socket) in it.
    env: { HOME: home, TMPDIR: home },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const killAll = () =>
    new Deno.Command("pkill", { args: ["-KILL", "-f", profile] }).output().catch(() => {});
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    killAll();
  }, timeoutMs);
  const status = await child.status;
  clearTimeout(timer);
  await killAll();
  const read = (f: string) => Deno.readTextFile(f).catch(() => "");
  return { code: status.code, stdout: await read(out), stderr: await read(err) };
}
