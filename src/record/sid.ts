/**
 * Session ids in the shape GOST uses (rs/xid): 12 bytes — 4 of seconds since the epoch,
 * 3 of machine id, 2 of process id, 3 of a counter — as 20 characters of lower-case
 * base32hex (`crugtkkdfur6asj5vbtg`). Sortable by time, unique per process.
 */
const ALPHABET = "0123456789abcdefghijklmnopqrstuv";
const machine = crypto.getRandomValues(new Uint8Array(3));
const pid = Deno.pid & 0xffff;
let counter = crypto.getRandomValues(new Uint32Array(1))[0] & 0xffffff;

export function newSid(now = Date.now()): string {
  const b = new Uint8Array(12);
  const secs = Math.floor(now / 1000);
  b[0] = secs >>> 24;
  b[1] = (secs >>> 16) & 0xff;
  b[2] = (secs >>> 8) & 0xff;
  b[3] = secs & 0xff;
  b.set(machine, 4);
  b[7] = pid >> 8;
  b[8] = pid & 0xff;
  counter = (counter + 1) & 0xffffff;
  b[9] = counter >> 16;
  b[10] = (counter >> 8) & 0xff;
  b[11] = counter & 0xff;
  // 96 bits = 19 full 5-bit groups + 1 group of the last bit padded to 5.
  // Characters joined at the end: appended one by one they would make a cons string
  // (see `wholeString`).
  const out: string[] = [];
  let acc = 0, bits = 0;
  for (const byte of b) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out.push(ALPHABET[(acc >>> (bits - 5)) & 31]);
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out.push(ALPHABET[(acc << (5 - bits)) & 31]);
  return out.join("");
}
