/**
 * RFC 9113 §8.2–8.3 rules for a decoded HTTP/2 field section. A section that breaks them is
 * "malformed": the endpoint must reset the stream, and the sniffer's record says why.
 * Never downgraded or repaired: the record shows what was sent.
 */

/** Fields that only mean something on one HTTP/1 connection (§8.2.2). */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

const REQUEST_PSEUDO = new Set([":method", ":scheme", ":authority", ":path", ":protocol"]);

export type Section = "request" | "response" | "trailers";

/** Why this section is malformed, or undefined when it is not. */
export function malformedSection(fields: [string, string][], section: Section): string | undefined {
  const pseudo = new Map<string, string>();
  let regularSeen = false;
  for (const [name, value] of fields) {
    const problem = fieldProblem(name, value);
    if (problem) return problem;
    if (name.startsWith(":")) {
      if (section === "trailers") return `pseudo-header ${name} in trailers`;
      if (regularSeen) return `pseudo-header ${name} after a regular field`;
      if (pseudo.has(name)) return `duplicate ${name}`;
      const allowed = section === "request" ? REQUEST_PSEUDO.has(name) : name === ":status";
      if (!allowed) return `pseudo-header ${name} in a ${section}`;
      pseudo.set(name, value);
      continue;
    }
    regularSeen = true;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
    if (name === "te" && value !== "trailers") return `te: ${value}`;
  }
  if (section === "response" && !pseudo.has(":status")) return "response without :status";
  if (section !== "request") return undefined;
  if (!pseudo.has(":method")) return "request without :method";
  if (pseudo.get(":method") === "CONNECT" && !pseudo.has(":protocol")) {
    // §8.5: CONNECT carries :authority only.
    if (pseudo.has(":scheme") || pseudo.has(":path")) return "CONNECT with :scheme or :path";
    return undefined;
  }
  if (!pseudo.has(":scheme")) return "request without :scheme";
  if (!pseudo.has(":path")) return "request without :path";
  if (pseudo.get(":path") === "") return "empty :path";
  return undefined;
}

/** §8.2.1: lowercase token names; no CR, LF or NUL anywhere; no surrounding whitespace. */
function fieldProblem(name: string, value: string): string | undefined {
  if (name.length === 0) return "empty field name";
  const bare = name.startsWith(":") ? name.slice(1) : name;
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(bare)) {
    return `field name ${JSON.stringify(name)} is not a lowercase token`;
  }
  if (/[\0\r\n]/.test(value)) return `field ${name} holds CR, LF or NUL`;
  if (/^[ \t]|[ \t]$/.test(value)) return `field ${name} has surrounding whitespace`;
  return undefined;
}

/** The declared content-length, if one valid value is present. */
export function declaredLength(fields: [string, string][]): number | undefined {
  const v = fields.find(([n]) => n === "content-length")?.[1];
  return v !== undefined && /^\d{1,15}$/.test(v) ? Number(v) : undefined;
}
