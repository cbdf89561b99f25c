/**
 * What `snoop` runs with no -L or -C: the proxy for HTTP, SOCKS4 and SOCKS5 on
 * 127.0.0.1:8080 with sniffing (WebSocket frames and Server-Sent Events too) and TLS
 * interception with the data directory's CA, recording every request with its bodies into the embedded store, shown
 * by the web UI on 127.0.0.1:8081 behind a random access token printed at start.
 */
export const MAIN_JOB_ADDR = "127.0.0.1:8080";
/** The web UI's address: mitmweb's port, on loopback. */
export const MAIN_JOB_UI = "127.0.0.1:8081";

/** The data directory: `--data`, else `$SNOOP_HOME`, else `~/.snoop`. */
export function dataDir(flag?: string): string {
  if (flag) return flag;
  const fromEnv = Deno.env.get("SNOOP_HOME");
  if (fromEnv) return fromEnv;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  return home ? `${home}/.snoop` : ".snoop";
}

export function mainJobConfig(dir: string, intercept = true): string {
  const mitm = intercept
    ? { "mitm.certFile": `${dir}/ca.crt`, "mitm.keyFile": `${dir}/ca.key` }
    : {};
  return JSON.stringify({
    services: [{
      name: "snoop",
      addr: MAIN_JOB_ADDR,
      recorders: [{ name: "records", metadata: { "http.body": true } }],
      handler: {
        type: "auto",
        metadata: {
          sniffing: true,
          "sniffing.timeout": "3s",
          "sniffing.websocket": true,
          "sniffing.sse": true,
          ...mitm,
        },
      },
    }],
    recorders: [{
      name: "records",
      store: { path: `${dir}/records.db`, retention: { maxAge: "168h", maxRecords: 1_000_000 } },
    }],
    ui: { addr: MAIN_JOB_UI, store: "records", ...(intercept ? { caFile: `${dir}/ca.crt` } : {}) },
  });
}
