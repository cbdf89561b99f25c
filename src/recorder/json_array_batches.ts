/**
 * A POST body stops growing past this many characters (about as many bytes: records are
 * mostly ASCII), so that a batch of records with bodies stays within what endpoints accept
 * (`snoop collect` takes 16 MiB). A record longer than this goes alone.
 */
export const MAX_BATCH_CHARS = 1024 * 1024;

/**
 * Groups records (each a JSON text) into JSON array texts of at most `perBody` records and,
 * past the first record of each, `maxChars` characters; `counts[i]` is how many records
 * `bodies[i]` holds, in order.
 */
export function jsonArrayBatches(
  records: string[],
  perBody: number,
  maxChars = MAX_BATCH_CHARS,
): { bodies: string[]; counts: number[] } {
  const bodies: string[] = [], counts: number[] = [];
  for (let start = 0; start < records.length;) {
    let end = start + 1, chars = records[start].length + 2;
    while (
      end < records.length && end - start < perBody &&
      chars + records[end].length + 1 <= maxChars
    ) {
      chars += records[end].length + 1;
      end++;
    }
    bodies.push(`[${records.slice(start, end).join(",")}]`);
    counts.push(end - start);
    start = end;
  }
  return { bodies, counts };
}
