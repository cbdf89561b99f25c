/**
 * Wall-clock timestamps with sub-millisecond precision, formatted as Go's RFC 3339 with
 * nanoseconds (`time.RFC3339Nano`): local offset, trailing zeros of the fraction trimmed.
 */

/** Nanoseconds since the Unix epoch (microsecond resolution, as `performance` gives). */
export function nowNanos(): bigint {
  const ms = performance.timeOrigin + performance.now();
  return BigInt(Math.floor(ms)) * 1_000_000n + BigInt(Math.round((ms % 1) * 1e6));
}

/** Monotonic milliseconds, for durations. */
export function monotonicMs(): number {
  return performance.now();
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/**
 * The second a record's time falls in, formatted with its zone: records come many a second,
 * so a time is formatted by subtracting the cached second's start and writing the fraction.
 */
let cachedSecondStart: bigint | null = null;
let cachedSecondText = "";
let cachedZone = "";
const NANOS_PER_SECOND = 1_000_000_000n;
const ZEROS = "000000000";

export function formatRFC3339Nano(nanos: bigint): string {
  let secondStart = cachedSecondStart;
  if (secondStart === null || nanos < secondStart || nanos - secondStart >= NANOS_PER_SECOND) {
    // Floored, so that a time before 1970 falls in its own second too.
    const second = nanos / NANOS_PER_SECOND - (nanos < 0n && nanos % NANOS_PER_SECOND ? 1n : 0n);
    const d = new Date(Number(second) * 1000);
    const offsetMin = -d.getTimezoneOffset();
    cachedSecondText = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${
      pad(d.getHours())
    }:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    cachedZone = offsetMin === 0
      ? "Z"
      : `${offsetMin > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offsetMin) / 60))}:${
        pad(Math.abs(offsetMin) % 60)
      }`;
    cachedSecondStart = secondStart = second * NANOS_PER_SECOND;
  }
  let frac = Number(nanos - secondStart);
  if (frac === 0) return [cachedSecondText, cachedZone].join("");
  // Go trims the fraction's trailing zeros: 455539320 ns → ".45553932".
  let digits = 9;
  while (frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  const text = String(frac);
  // Joined: a concatenation this long would be a cons string (see `wholeString`).
  return [cachedSecondText, ".", ZEROS.slice(0, digits - text.length), text, cachedZone].join("");
}
