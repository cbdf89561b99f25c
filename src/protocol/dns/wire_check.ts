/**
 * A structural check of a DNS message (RFC 1035 §4.1) before it is decoded, for what the
 * decoder lets through (counts larger than the message, names that run past it): one linear
 * walk, nothing allocated by count.
 *
 *   header(12): id | flags | QDCOUNT | ANCOUNT | NSCOUNT | ARCOUNT
 *   question:   name | type(2) | class(2)
 *   record:     name | type(2) | class(2) | ttl(4) | rdlength(2) | rdata
 *   name:       labels `len(1) bytes`, ended by 0 or by a pointer `0b11 offset(14)`
 *
 * Rejected: counts that cannot fit in the bytes present; pointers that do not point strictly
 * backwards (RFC 9267: loops, forward jumps, into the header) or chain more than 10 times;
 * label types 0x40/0x80; labels over 63 bytes or holding `.` or NUL; names over 255 bytes;
 * rdata past the end; A/AAAA of the wrong length; an OPT record outside the additional
 * section, with a name other than the root, more than once, or whose options overrun it.
 * RDATA of other types is opaque (RFC 3597): names inside it are not followed.
 */

const HEADER = 12;
const MIN_QUESTION = 5; // root name + type + class
const MIN_RECORD = 11; // root name + type + class + ttl + rdlength
const MAX_POINTERS = 10;
const MAX_NAME = 255;
const TYPE_A = 1;
const TYPE_AAAA = 28;
const TYPE_OPT = 41;

export class DnsWireError extends RangeError {}

export function checkMessage(b: Uint8Array): void {
  if (b.length < HEADER) throw new DnsWireError("DNS message shorter than its 12-byte header");
  const count = (at: number) => (b[at] << 8) | b[at + 1];
  const qd = count(4), an = count(6), ns = count(8), ar = count(10);
  if (qd * MIN_QUESTION + (an + ns + ar) * MIN_RECORD > b.length - HEADER) {
    throw new DnsWireError(
      `counts (QD ${qd}, AN ${an}, NS ${ns}, AR ${ar}) do not fit in ${b.length} bytes`,
    );
  }
  let at = HEADER;
  for (let i = 0; i < qd; i++) {
    at = skipName(b, at);
    need(b, at, 4, "question");
    at += 4;
  }
  let opts = 0;
  const sections: [string, number][] = [["answer", an], ["authority", ns], ["additional", ar]];
  for (const [section, n] of sections) {
    for (let i = 0; i < n; i++) {
      const nameAt = at;
      at = skipName(b, at);
      need(b, at, 10, `${section} record`);
      const type = count(at);
      const rdlength = count(at + 8);
      at += 10;
      need(b, at, rdlength, `${section} record data`);
      if (type === TYPE_A && rdlength !== 4) {
        throw new DnsWireError(`A record of ${rdlength} bytes`);
      }
      if (type === TYPE_AAAA && rdlength !== 16) {
        throw new DnsWireError(`AAAA record of ${rdlength} bytes`);
      }
      if (type === TYPE_OPT) {
        if (section !== "additional") {
          throw new DnsWireError(`OPT record in the ${section} section`);
        }
        if (++opts > 1) throw new DnsWireError("more than one OPT record");
        if (b[nameAt] !== 0) throw new DnsWireError("OPT record not owned by the root");
        checkOptions(b, at, rdlength);
      }
      at += rdlength;
    }
  }
}

/** Walks one name at `at`; returns the offset after it (after the pointer, if one). */
function skipName(b: Uint8Array, start: number): number {
  let at = start;
  let end = -1; // where the name ends in the message, once a pointer is followed
  let limit = start; // a pointer must land strictly before this
  let pointers = 0;
  let length = 1; // the root's zero byte
  for (;;) {
    need(b, at, 1, "name");
    const len = b[at];
    if (len === 0) return end >= 0 ? end : at + 1;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      need(b, at, 2, "name pointer");
      const target = ((len & 0x3f) << 8) | b[at + 1];
      if (target < HEADER) throw new DnsWireError("name pointer into the header");
      if (target >= limit) throw new DnsWireError("name pointer that does not point backwards");
      if (++pointers > MAX_POINTERS) throw new DnsWireError("name with too many pointers");
      if (end < 0) end = at + 2;
      limit = target;
      at = target;
      continue;
    }
    if (kind !== 0) throw new DnsWireError(`reserved label type 0x${kind.toString(16)}`);
    need(b, at + 1, len, "label");
    for (let i = at + 1; i <= at + len; i++) {
      if (b[i] === 0x2e || b[i] === 0) throw new DnsWireError("label holding '.' or NUL");
    }
    length += len + 1;
    if (length > MAX_NAME) throw new DnsWireError("name longer than 255 bytes");
    at += 1 + len;
  }
}

/** OPT RDATA (RFC 6891 §6.1.2): `code(2) | length(2) | data` repeated, filling it exactly. */
function checkOptions(b: Uint8Array, at: number, rdlength: number): void {
  const end = at + rdlength;
  while (at < end) {
    if (end - at < 4) throw new DnsWireError("OPT option header overruns the record");
    const len = (b[at + 2] << 8) | b[at + 3];
    at += 4 + len;
    if (at > end) throw new DnsWireError("OPT option overruns the record");
  }
}

function need(b: Uint8Array, at: number, n: number, what: string): void {
  if (at + n > b.length) throw new DnsWireError(`${what} runs past the end of the message`);
}
