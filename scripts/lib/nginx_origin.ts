/**
 * nginx as the benchmarks' origin: `/1k` (1 KiB), `/100m` (100 MiB, sparse) and `/rec`
 * (204, the sink of an http recorder), over HTTP and, with `tls`, HTTP/1.1 + h2 over TLS
 * with `dir`'s origin.crt/origin.key. One worker, no access log, keep-alive without limit.
 */
import { freePort, type Proc, spawn, waitForPort } from "./processes.ts";

export interface NginxOrigin {
  http: number;
  /** 0 without `tls`. */
  https: number;
  proc: Proc;
}

export async function startNginx(
  dir: string,
  opts: { tls?: boolean; name?: string } = {},
): Promise<NginxOrigin> {
  const tls = opts.tls ?? true;
  const name = opts.name ?? "nginx";
  const http = freePort(), https = tls ? freePort() : 0;
  const www = `${dir}/${name}-www`;
  await Deno.mkdir(www);
  await Deno.writeFile(`${www}/1k`, new Uint8Array(1024).fill(120));
  const big = await Deno.open(`${www}/100m`, { write: true, create: true });
  await big.truncate(100 * 1024 * 1024);
  big.close();
  const tlsServer = tls
    ? `server {
    listen 127.0.0.1:${https} ssl http2;
    ssl_certificate ${dir}/origin.crt;
    ssl_certificate_key ${dir}/origin.key;
    root ${www};
  }`
    : "";
  await Deno.writeTextFile(
    `${dir}/${name}.conf`,
    `worker_processes 1;
daemon off;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}.err;
events { worker_connections 30000; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 600s;
  client_body_temp_path ${dir}/${name}-body;
  server { listen 127.0.0.1:${http}; root ${www}; location /rec { return 204; } }
  ${tlsServer}
}
`,
  );
  const proc = spawn("nginx", ["-c", `${dir}/${name}.conf`, "-e", `${dir}/${name}.err`]);
  await waitForPort(http, proc.log);
  if (tls) await waitForPort(https, proc.log);
  return { http, https, proc };
}
