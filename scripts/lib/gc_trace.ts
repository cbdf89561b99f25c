/**
 * V8's `--trace-gc-nvp` output, summed. Each collection is one line ending in
 * `GC: {json}`, where `gc` is `s` for a scavenge (young generation) and `mc`/`mmc` for a
 * mark-compact; `pause` is in ms, `new_space_survived` and `promoted` in bytes. The fields
 * are read one by one rather than the JSON parsed: V8 cuts a long line short (a
 * mark-compact's is ~2,900 characters in Deno 2.9's V8 and ends mid-string), and the fields
 * needed come early in it. A line without `gc` and `pause` is counted as unparsed.
 */
export interface GcSummary {
  scavenges: number;
  scavengeMs: number;
  survivedBytes: number;
  promotedBytes: number;
  markCompacts: number;
  markCompactMs: number;
  unparsed: number;
}

export function summarizeGcTrace(text: string): GcSummary {
  const sum: GcSummary = {
    scavenges: 0,
    scavengeMs: 0,
    survivedBytes: 0,
    promotedBytes: 0,
    markCompacts: 0,
    markCompactMs: 0,
    unparsed: 0,
  };
  const field = (line: string, name: string) =>
    new RegExp(`"${name}":("?)([\\w.]+)\\1[,}]`).exec(line)?.[2];
  for (const line of text.split("\n")) {
    const at = line.indexOf("GC: {");
    if (at < 0) continue;
    const json = line.slice(at);
    const kind = field(json, "gc"), pause = Number(field(json, "pause"));
    if (!kind || !Number.isFinite(pause)) {
      sum.unparsed++;
      continue;
    }
    if (kind === "s") {
      sum.scavenges++;
      sum.scavengeMs += pause;
      sum.survivedBytes += Number(field(json, "new_space_survived") ?? 0);
      sum.promotedBytes += Number(field(json, "promoted") ?? 0);
    } else {
      sum.markCompacts++;
      sum.markCompactMs += pause;
    }
  }
  return sum;
}
