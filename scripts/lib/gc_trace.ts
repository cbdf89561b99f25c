/**
 * V8's `--trace-gc-nvp` output, summed. Each collection is one line ending in
 * `GC: {json}`, where `gc` is `s` for a scavenge (young generation) and `mc`/`mmc` for a
 * mark-compact; `pause` is in ms, `new_space_survived` and `promoted` in bytes. The
 * background threads' lines can interleave with it, so a line that does not parse is
 * counted and skipped.
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
  for (const line of text.split("\n")) {
    const at = line.indexOf("GC: {");
    if (at < 0) continue;
    let gc: Record<string, unknown>;
    try {
      gc = JSON.parse(line.slice(at + 4));
    } catch {
      sum.unparsed++;
      continue;
    }
    if (gc.gc === "s") {
      sum.scavenges++;
      sum.scavengeMs += Number(gc.pause ?? 0);
      sum.survivedBytes += Number(gc.new_space_survived ?? 0);
      sum.promotedBytes += Number(gc.promoted ?? 0);
    } else {
      sum.markCompacts++;
      sum.markCompactMs += Number(gc.pause ?? 0);
    }
  }
  return sum;
}
