import type { ClientHttp2Session, OutgoingHttpHeaders } from "node:http2";

/** One request on a node:http2 session, with an optional body; the response body as text. */
export function h2Request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: string,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = session.request(headers);
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => text += chunk);
    req.on("end", () => resolve(text));
    req.on("error", reject);
    req.end(body);
  });
}
