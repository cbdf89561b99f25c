import { freePort, type Proc, spawn, waitForPort } from "./processes.ts";

/**
 * squid as the benchmarks' reference forward proxy: on 127.0.0.1, no cache, no access log,
 * nothing added to requests (`via off`, `forwarded_for delete`), in the foreground (`-N`), its
 * files in `dir`.
 */
export async function startSquid(dir: string): Promise<{ port: number; proc: Proc }> {
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/squid.conf`,
    `http_port 127.0.0.1:${port}
acl local src 127.0.0.1
http_access allow local
http_access deny all
cache deny all
cache_mem 8 MB
access_log none
cache_log ${dir}/squid-cache.log
pid_filename ${dir}/squid.pid
coredump_dir ${dir}
max_filedescriptors 65536
via off
forwarded_for delete
`,
  );
  const proc = spawn("squid", ["-N", "-f", `${dir}/squid.conf`]);
  try {
    await waitForPort(port, proc.log, 30_000);
  } catch (e) {
    await proc.stop(); // a squid that never listened is not left behind
    throw e;
  }
  return { port, proc };
}
