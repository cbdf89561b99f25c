/**
 * Debian's squid as a real upstream proxy for tests: a minimal configuration in a temporary
 * directory (its own pid file, logs, no disk cache), listening on 127.0.0.1, in the
 * foreground (`-N`), with Basic authentication for one user, CONNECT to any port allowed.
 * `stop` ends it (SIGTERM, then SIGKILL) and removes the directory.
 */
import { freePort, run, waitForPort } from "./harness.ts";

export interface Squid {
  port: number;
  user: string;
  password: string;
  /** Lines of squid's access log (one per request or CONNECT it handled). */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startSquid(user = "chain", password = "s3cret pass"): Promise<Squid> {
  const dir = await Deno.makeTempDir({ prefix: "snoop-squid-" });
  // squid started as root switches to its effective user (proxy), which writes the logs.
  await Deno.chmod(dir, 0o777);
  const hash = await run("openssl", ["passwd", "-apr1", password]);
  if (hash.code !== 0) throw new Error(`openssl passwd: ${hash.stderr}`);
  await Deno.writeTextFile(`${dir}/passwd`, `${user}:${hash.stdout.trim()}\n`);
  await Deno.chmod(`${dir}/passwd`, 0o644);
  const port = freePort();
  const helper = ["/usr/lib/squid/basic_ncsa_auth", "/usr/lib/squid3/basic_ncsa_auth"]
    .find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
  if (!helper) throw new Error("squid's basic_ncsa_auth helper is missing");
  await Deno.writeTextFile(
    `${dir}/squid.conf`,
    `http_port 127.0.0.1:${port}
pid_filename ${dir}/squid.pid
cache_log ${dir}/cache.log
access_log stdio:${dir}/access.log
coredump_dir ${dir}
cache deny all
cache_mem 8 MB
netdb_filename none
shutdown_lifetime 1 seconds
auth_param basic program ${helper} ${dir}/passwd
auth_param basic realm snoop-test
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
`,
  );
  const child = new Deno.Command("squid", {
    args: ["-N", "-f", `${dir}/squid.conf`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let exited = false;
  child.status.then(() => exited = true);
  try {
    await waitForPort(port);
  } catch (e) {
    if (!exited) child.kill("SIGKILL");
    const out = await output;
    const log = await Deno.readTextFile(`${dir}/cache.log`).catch(() => "");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(
      `squid did not start: ${(e as Error).message}\n${new TextDecoder().decode(out.stderr)}${log}`,
    );
  }
  return {
    port,
    user,
    password,
    async accessLog() {
      const text = await Deno.readTextFile(`${dir}/access.log`).catch(() => "");
      return text.split("\n").filter(Boolean);
    },
    async stop() {
      if (!exited) child.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (!exited) child.kill("SIGKILL");
      }, 5000);
      await output;
      clearTimeout(timer);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
