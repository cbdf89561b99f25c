/**
 * The origin-form (RFC 9112 §3.2.1) of an absolute-form request-target, exactly as the
 * client sent its path and query: RFC 9110 §7.7 says a proxy MUST NOT modify them, except
 * that an empty path becomes "/". (Taking them from WHATWG `URL` rewrote requests:
 * `/a/../b` went out as `/b`, `"` as `%22`, a Latin-1 byte as its UTF-8 escape.) A fragment,
 * which has no place in a request-target, is dropped as before.
 *
 *   absolute-form = scheme "://" authority path-abempty [ "?" query ] [ "#" fragment ]
 *
 * Null when the target has no `://`, when it holds a control character or DEL (Go's
 * url.Parse, and so GOST, refuses those too), or when its authority holds a backslash:
 * WHATWG `URL`, which finds the host, ends the authority there, so host and path would
 * disagree.
 */
export function originForm(target: string): string | null {
  const schemeEnd = target.indexOf("://");
  if (schemeEnd <= 0) return null;
  let pathStart = -1;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return null;
    if (pathStart < 0 && i >= schemeEnd + 3) {
      if (c === 0x5c) return null; // "\" in the authority
      if (c === 0x2f || c === 0x3f || c === 0x23) pathStart = i; // "/", "?", "#"
    }
  }
  if (pathStart < 0) return "/";
  const hash = target.indexOf("#", pathStart);
  const rest = hash < 0 ? target.slice(pathStart) : target.slice(pathStart, hash);
  if (rest === "") return "/";
  return rest.charCodeAt(0) === 0x3f ? "/" + rest : rest;
}
