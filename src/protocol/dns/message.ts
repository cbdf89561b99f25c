import dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import { checkMessage } from "./wire_check.ts";
import { wholeString } from "../../util/text.ts";

/**
 * DNS messages for the `dns` handler and its records (RFC 1035 §4): decoded with
 * dns-packet, and printed the way dig (and miekg/dns's `Msg.String()`, which GOST uses
 * for `question` and `answer`) prints them.
 */
export interface DnsRecordFields {
  id: number;
  name: string;
  class: string;
  type: string;
}

// deno-lint-ignore no-explicit-any
export type DecodedMessage = any;

/** Decodes a message; throws `RangeError` with the reason for a malformed one. */
export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  checkMessage(bytes);
  try {
    return dnsPacket.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (e) {
    throw new RangeError(`malformed DNS message: ${(e as Error).message}`);
  }
}

/** The first question's id, name (with the trailing dot, whole for records), class and type. */
export function questionFields(msg: DecodedMessage): DnsRecordFields {
  const q = msg.questions?.[0];
  return {
    id: msg.id ?? 0,
    name: q ? wholeString(fqdn(q.name)) : "",
    class: q?.class ?? "",
    type: q?.type ?? "",
  };
}

/** Whether a reply answers this query's question (ids can be guessed; questions must match too). */
export function sameQuestion(query: DecodedMessage, reply: DecodedMessage): boolean {
  const q = questionFields(query), r = questionFields(reply);
  return q.name.toLowerCase() === r.name.toLowerCase() && q.type === r.type &&
    q.class === r.class;
}

const fqdn = (name: string) => name.endsWith(".") ? name : `${name}.`;

function rdata(rr: DecodedMessage): string {
  const d = rr.data;
  switch (rr.type) {
    case "A":
    case "AAAA":
      return String(d);
    case "CNAME":
    case "NS":
    case "PTR":
    case "DNAME":
      return fqdn(String(d));
    case "MX":
      return `${d.preference} ${fqdn(d.exchange)}`;
    case "TXT":
      return (Array.isArray(d) ? d : [d]).map((s: Uint8Array | string) =>
        JSON.stringify(typeof s === "string" ? s : new TextDecoder().decode(s))
      ).join(" ");
    case "SRV":
      return `${d.priority} ${d.weight} ${d.port} ${fqdn(d.target)}`;
    case "SOA":
      return `${fqdn(d.mname)} ${
        fqdn(d.rname)
      } ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    default:
      return Buffer.isBuffer(d) ? `\\# ${d.length} ${d.toString("hex")}` : JSON.stringify(d);
  }
}

/** Records listed per section in a record's text; a 64 KiB message can hold thousands. */
export const MAX_LISTED = 1000;

function section(title: string, all: DecodedMessage[]): string {
  if (!all?.length) return "";
  const rrs = all.filter((rr) => rr.type !== "OPT");
  const lines = rrs.slice(0, MAX_LISTED).map((rr) =>
    `${fqdn(rr.name)}\t${rr.ttl ?? 0}\t${rr.class ?? "IN"}\t${rr.type}\t${rdata(rr)}`
  );
  if (rrs.length > MAX_LISTED) lines.push(`;; ... ${rrs.length - MAX_LISTED} more`);
  return lines.length ? `\n;; ${title} SECTION:\n${lines.join("\n")}\n` : "";
}

/**
 * dig-style text of a whole message (header, flags, every section), made whole for the
 * record (see `wholeString`).
 */
export function messageText(msg: DecodedMessage): string {
  const flags = [
    msg.flag_qr && "qr",
    msg.flag_aa && "aa",
    msg.flag_tc && "tc",
    msg.flag_rd && "rd",
    msg.flag_ra && "ra",
    msg.flag_ad && "ad",
    msg.flag_cd && "cd",
  ].filter(Boolean).join(" ");
  const opt = (msg.additionals ?? []).find((rr: DecodedMessage) => rr.type === "OPT");
  let out =
    `;; opcode: ${msg.opcode ?? "QUERY"}, status: ${msg.rcode ?? "NOERROR"}, id: ${msg.id}\n` +
    `;; flags: ${flags}; QUERY: ${msg.questions?.length ?? 0}, ANSWER: ${
      msg.answers?.length ?? 0
    }, ` +
    `AUTHORITY: ${msg.authorities?.length ?? 0}, ADDITIONAL: ${msg.additionals?.length ?? 0}\n`;
  if (opt) {
    out += `\n;; OPT PSEUDOSECTION:\n; EDNS: version 0; flags:; udp: ${opt.udpPayloadSize}\n`;
  }
  if (msg.questions?.length) {
    out += `\n;; QUESTION SECTION:\n${
      msg.questions.slice(0, MAX_LISTED).map((q: DecodedMessage) =>
        `;${fqdn(q.name)}\t${q.class}\t ${q.type}`
      ).join(
        "\n",
      )
    }\n`;
  }
  out += section("ANSWER", msg.answers);
  out += section("AUTHORITY", msg.authorities);
  out += section("ADDITIONAL", msg.additionals);
  return wholeString(out);
}

/** A SERVFAIL reply to `query` (when no upstream answered). */
export function servfail(query: DecodedMessage): Uint8Array {
  return new Uint8Array(dnsPacket.encode({
    type: "response",
    id: query.id,
    flags: (query.flags & 0x0100) | 0x8000 | 0x0080 | 2, // RD copied, QR, RA, rcode 2
    questions: query.questions,
  }));
}
