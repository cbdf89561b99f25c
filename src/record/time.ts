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

/** The formatted second a record's time falls in, with its zone: records come many a second. */
let cachedSecond = NaN;
let cachedSecondText = "";
let cachedZone = "";

export function formatRFC3339Nano(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const frac = Number(nanos % 1_000_000_000n);
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const d = new Date(ms);
    const offsetMin = -d.getTimezoneOffset();
    cachedSecondText = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${
      pad(d.getHours())
    }:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    cachedZone = offsetMin === 0
      ? "Z"
      : `${offsetMin > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offsetMin) / 60))}:${
        pad(Math.abs(offsetMin) % 60)
      }`;
    cachedSecond = second;
  }
  const fraction = frac === 0 ? "" : "." + String(frac).padStart(9, "0").replace(/0+$/, "");
  // Joined: a concatenation this long would be a cons string (see `wholeString`).
  return [cachedSecondText, fraction, cachedZone].join("");
}
