import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Who may use the web UI, its API and the collector's query side: Jupyter's and mitmweb's
 * model. Three checks, in this order, on every request:
 *
 * 1. `Host` must name this server: a loopback name (`localhost`, `*.localhost`, `127.0.0.1`,
 *    `[::1]`, any port), or one of `hosts` (the bound address with its port, names the user
 *    configured). DNS rebinding points a name the attacker owns at 127.0.0.1; the browser then
 *    sends that name as `Host`, which is answered 421 Misdirected Request.
 * 2. On the API (not on the pages a user navigates to), a request a browser sends from another
 *    site is refused 403: an `Origin` that is not one of the allowed hosts' origins, or
 *    `Sec-Fetch-Site: cross-site | same-site`.
 * 3. A token, unless `token` is null: `Authorization: Bearer T`, the `snoop_token_PORT` cookie, or
 *    `?token=T` (which on `/` answers 303 to `/` with the cookie, so the token leaves the
 *    address bar). Compared in constant time over SHA-256 digests, so neither the bytes nor the
 *    length of the token leak through timing. Wrong or missing: 401.
 */
export interface AccessPolicy {
  /** Lower-case `host` or `host:port` values of `Host` accepted besides the loopback names. */
  hosts: Set<string>;
  /** The access token; null when the user turned it off (loopback only). */
  token: string | null;
  /** Paths served without the token (still behind the Host check): `/healthz`, `/ca.crt`. */
  publicPaths?: Set<string>;
}

/**
 * The cookie that carries the token after `/?token=T`, named after the port the browser
 * reached: cookies are kept per host name, not per port, so the main UI on 8081 and a
 * collector on 8082 of the same host would otherwise overwrite each other's token.
 */
export function tokenCookie(port: string): string {
  return `snoop_token_${port}`;
}

/** The port a request reached, as the browser keyed its cookie: Host's, else the scheme's. */
function requestPort(req: Request, url: URL): string {
  const { port } = splitHost(req.headers.get("host") ?? url.host);
  return port || (url.protocol === "https:" ? "443" : "80");
}

/** Paths every snoop web server serves without the token. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set([
  "/healthz",
  "/ca.crt",
  "/favicon.svg",
  "/favicon.ico",
]);

/** A fresh access token: 32 random bytes, base64url without padding (43 characters). */
export function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Whether `given` equals `expected`, in time that depends on neither: both are hashed to 32
 * bytes first (`timingSafeEqual` needs equal lengths, and comparing lengths would leak one).
 */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** `Host` split into a lower-case name (IPv6 keeps its brackets) and an optional port. */
function splitHost(host: string): { name: string; port: string } {
  const h = host.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[^:\[\]]*)(?::(\d{1,5}))?$/.exec(h);
  return m ? { name: m[1], port: m[2] ?? "" } : { name: "", port: "" };
}

function isLoopbackName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost") || name === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** Whether `host` (a `Host` header or an origin's host) is allowed by `policy`. */
export function hostAllowed(host: string, policy: AccessPolicy): boolean {
  const { name, port } = splitHost(host);
  if (!name) return false;
  if (isLoopbackName(name)) return true;
  return policy.hosts.has(name) || (port !== "" && policy.hosts.has(`${name}:${port}`));
}

/** `name:port` with the scheme's port filled in, lower-case: what origins are compared by. */
function withPort(host: string, scheme: string): string {
  const { name, port } = splitHost(host);
  return `${name}:${port || (scheme === "https:" ? "443" : "80")}`;
}

/**
 * Whether the request comes from a page of another site (checked on the API and SSE). An
 * `Origin` must be the server's own, port included: another server on 127.0.0.1 is another
 * site to snoop, though browsers count it as the same site and cookies ignore ports. A
 * name in `hosts` written with its port (a reverse proxy's address) is accepted as well.
 */
function crossSite(req: Request, policy: AccessPolicy): boolean {
  const site = req.headers.get("sec-fetch-site");
  if (site === "cross-site" || site === "same-site") return true;
  const origin = req.headers.get("origin");
  if (origin === null) return false;
  // "null" is what sandboxed frames, file: pages and redirects across origins send.
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return true;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return true;
  const from = withPort(url.host, url.protocol);
  const host = req.headers.get("host");
  if (host !== null) {
    const to = withPort(host, url.protocol);
    if (from === to) return false;
    // localhost:8081 and 127.0.0.1:8081 are one server: the port is the UI's own.
    const a = splitHost(from), b = splitHost(to);
    if (a.port === b.port && isLoopbackName(a.name) && isLoopbackName(b.name)) return false;
  }
  return !policy.hosts.has(url.host.toLowerCase()) && !policy.hosts.has(from);
}

/** The token a request carries, and where: the query wins, then the header, then the cookie. */
function givenToken(
  req: Request,
  url: URL,
  cookie: string,
): { token: string; from: "query" | "other" } | null {
  const q = url.searchParams.get("token");
  if (q !== null) return { token: q, from: "query" };
  const auth = req.headers.get("authorization");
  const bearer = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1] : undefined;
  if (bearer !== undefined) return { token: bearer, from: "other" };
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === cookie) {
      return { token: part.slice(eq + 1).trim(), from: "other" };
    }
  }
  return null;
}

/** Paths a user navigates to (the Origin checks do not apply to top-level navigations). */
const PAGES = new Set(["/", "/index.html", "/favicon.svg", "/favicon.ico", "/ca.crt", "/healthz"]);

/**
 * Applies `policy` to `req`: null when it may go on, else the response that refuses it (421,
 * 403, 401, or the 303 that turns `/?token=T` into a cookie).
 */
export function checkAccess(req: Request, policy: AccessPolicy): Response | null {
  // Host first: a Host that cannot make a URL (a port past 65535) makes `req.url` throw.
  const hostHeader = req.headers.get("host");
  if (hostHeader !== null && !hostAllowed(hostHeader, policy)) {
    return refusal(421, "this server does not answer to that Host name");
  }
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return refusal(400, "the Host header does not name a server");
  }
  if (hostHeader === null && !hostAllowed(url.host, policy)) {
    return refusal(421, "this server does not answer to that Host name");
  }
  if (!PAGES.has(url.pathname) && crossSite(req, policy)) {
    return refusal(403, "requests from other sites are refused");
  }
  if ((policy.publicPaths ?? PUBLIC_PATHS).has(url.pathname)) return null;
  if (policy.token === null) return null;
  const cookie = tokenCookie(requestPort(req, url));
  const given = givenToken(req, url, cookie);
  if (!given || !tokenMatches(given.token, policy.token)) {
    return refusal(
      401,
      given
        ? "wrong token: open the URL with ?token= that snoop printed when it started"
        : "a token is required: open the URL with ?token= that snoop printed when it started, " +
          "or send Authorization: Bearer <token>",
    );
  }
  if (given.from === "query" && (url.pathname === "/" || url.pathname === "/index.html")) {
    return new Response(null, {
      status: 303,
      headers: {
        ...SECURITY_HEADERS,
        location: "/",
        "set-cookie": `${cookie}=${policy.token}; HttpOnly; SameSite=Strict; Path=/`,
        "cache-control": "no-store",
      },
    });
  }
  return null;
}

/**
 * The extra checks on a request that changes something (replay, HAR import), after
 * `checkAccess`: a cross-site form or script must not be able to post. The body must be
 * one of `types` (a form can only send urlencoded, multipart or text/plain without a
 * preflight), and the request must come from the UI's own origin: an `Origin` equal to
 * `http://` + the `Host` it was sent to, or, with no `Origin` (a client that is not a
 * browser), no `Sec-Fetch-Site` other than same-origin and the token as a bearer.
 */
export function checkWrite(req: Request, policy: AccessPolicy, types: string[]): Response | null {
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (!types.includes(type)) {
    return refusal(415, `send the body as Content-Type: ${types.join(" or ")}`);
  }
  const url = new URL(req.url);
  const origin = req.headers.get("origin");
  if (origin !== null) {
    const own = `${url.protocol}//${req.headers.get("host") ?? url.host}`.toLowerCase();
    if (origin.toLowerCase() !== own) return refusal(403, "only the UI's own pages may do this");
    return null;
  }
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") {
    return refusal(403, "only the UI's own pages may do this");
  }
  const auth = req.headers.get("authorization") ?? "";
  if (policy.token !== null && !/^Bearer\s+\S+\s*$/i.test(auth)) {
    return refusal(403, "without an Origin, send the token as Authorization: Bearer");
  }
  return null;
}

/**
 * Headers on every UI and API response: the page runs only its own script and style, is
 * never framed, and sends no Referer (the address may once have held the token).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' blob: data:; connect-src 'self'; frame-ancestors 'none'; " +
    "base-uri 'none'; form-action 'self'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

function refusal(status: number, error: string): Response {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: {
      ...SECURITY_HEADERS,
      "content-type": "application/json",
      "cache-control": "no-store",
    },
  });
}

/** `host:port` as a browser writes it in `Host` (IPv6 in brackets), lower-case. */
function hostPort(hostname: string, port: number): string {
  const h = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${h.toLowerCase()}:${port}`;
}

/**
 * The `Host` values that name a server bound to `addr`: its address with the port, or, bound
 * to every address (0.0.0.0, ::), each interface's address with the port.
 */
export function boundHosts(addr: Deno.NetAddr): string[] {
  if (addr.hostname !== "0.0.0.0" && addr.hostname !== "::") {
    return [hostPort(addr.hostname, addr.port)];
  }
  try {
    return Deno.networkInterfaces().map((i) => hostPort(i.address.split("%")[0], addr.port));
  } catch {
    // Without --allow-sys the interfaces are unknown: loopback names and ui.hosts remain.
    return [];
  }
}

/**
 * The address to open the UI at, printed at start: with `?token=` when snoop made the token
 * up (the user has no other way to learn it), without when the user chose it.
 */
export function startUrl(addr: Deno.NetAddr, token: string | null, showToken: boolean): string {
  const any = addr.hostname === "0.0.0.0" || addr.hostname === "::";
  const base = `http://${hostPort(any ? "127.0.0.1" : addr.hostname, addr.port)}/`;
  return token && showToken ? `${base}?token=${token}` : base;
}

/**
 * The token a server starts with: the user's (`fixed`, then `$SNOOP_UI_TOKEN`), none when
 * `fixed` is `off`, else a random one that `generated` says must be printed.
 */
export function startToken(
  fixed: string | undefined,
): { token: string | null; generated: boolean } {
  if (fixed === "off") return { token: null, generated: false };
  if (fixed) return { token: fixed, generated: false };
  let env: string | undefined;
  try {
    env = Deno.env.get("SNOOP_UI_TOKEN") || undefined;
  } catch { /* no --allow-env: no token from the environment */ }
  if (env) return { token: env, generated: false };
  return { token: randomToken(), generated: true };
}
