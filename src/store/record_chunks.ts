import type { DatabaseSync, StatementSync } from "node:sqlite";
import zlib from "node:zlib";

/**
 * Records' JSON in compressed chunks (the store's `record_chunks` table), not in their rows.
 *
 * A record with bodies is a few KiB of JSON: kept in its row, every row filled a B-tree page
 * of its own, so each insert wrote a whole page to the WAL and again at the checkpoint, and
 * the file grew by a page per record. Consecutive records are much alike (the same host,
 * headers, often the same body), so a run of them compresses together to a fraction of one
 * alone: the rows keep only the columns (their `json` is empty) and a chunk holds the texts
 * of the records `first_id`…`last_id`, one per line, zstd-compressed. Rows from stores written
 * before keep their JSON inline and are read as they are.
 *
 * A chunk is at most CHUNK_RECORDS records and, past its first, CHUNK_TEXT_BYTES of text, so
 * that reading one record never decompresses much more than its neighbours' worth.
 */
export const CHUNK_SCHEMA = `
CREATE TABLE IF NOT EXISTS record_chunks (
  first_id INTEGER PRIMARY KEY,
  last_id INTEGER NOT NULL,
  data BLOB NOT NULL
);
`;

export const CHUNK_RECORDS = 64;
export const CHUNK_TEXT_BYTES = 1024 * 1024;

/** zstd's fastest level: compression runs on the ingest path, for every record. */
const LEVEL = 1;

/** Chunks decompressed and kept for the reads after them (a scan reads its way down by id). */
const CACHED_CHUNKS = 4;

/** A record's JSON text as one line: JSON's own whitespace is the only place a newline can be. */
export function oneLine(text: string, record: unknown): string {
  return text.includes("\n") ? JSON.stringify(record) : text;
}

/** The chunk of these texts (each one line). */
export function packChunk(texts: string[]): Uint8Array {
  return zlib.zstdCompressSync(texts.join("\n"), {
    params: { [zlib.constants.ZSTD_c_compressionLevel]: LEVEL },
  });
}

/**
 * The texts of a chunk that holds `count` records. A chunk that does not decompress, or holds
 * another number of lines, is an error: its records would otherwise be read as each other.
 */
export function unpackChunk(data: Uint8Array, count: number, maxBytes: number): string[] {
  const text = new TextDecoder().decode(
    zlib.zstdDecompressSync(data, { maxOutputLength: maxBytes }),
  );
  const lines = text.split("\n");
  if (lines.length !== count) {
    throw new Error(`a record chunk holds ${lines.length} records, not ${count}`);
  }
  return lines;
}

/** Splits records (ids ascending) into runs of consecutive ids within the chunk limits. */
export function chunkRuns<T extends { id: number; text: string }>(rows: T[]): T[][] {
  const runs: T[][] = [];
  let run: T[] = [], bytes = 0;
  for (const row of rows) {
    const last = run[run.length - 1];
    if (
      last &&
      (row.id !== last.id + 1 || run.length >= CHUNK_RECORDS ||
        bytes + row.text.length > CHUNK_TEXT_BYTES)
    ) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(row);
    bytes += row.text.length;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * Writes and reads one store's chunks, keeping the last few read decompressed.
 *
 * Record ids can come back: a row's id is one past the largest id left, so when retention
 * deletes the newest records (`maxAge` takes a long connection's record, dated by its start,
 * as soon as it is written), the next records get their ids again. The chunks that held the
 * deleted records go with them when the ids are given out again (`write`), and reads see the
 * newest chunk that starts at or below an id, so they never read a deleted record's text.
 */
export class RecordChunks {
  readonly #insert: StatementSync;
  readonly #find: StatementSync;
  readonly #dropFrom: StatementSync;
  readonly #dataVersion: StatementSync;
  readonly #cache = new Map<number, { last: number; texts: string[] }>();
  /** The database's `data_version` when the cache was filled: another connection's commit changes it. */
  #cachedVersion = -1;

  constructor(readonly db: DatabaseSync) {
    db.exec(CHUNK_SCHEMA);
    this.#insert = db.prepare(
      "INSERT INTO record_chunks (first_id, last_id, data) VALUES (?, ?, ?)",
    );
    this.#find = db.prepare(
      "SELECT first_id AS first, last_id AS last, data FROM record_chunks" +
        " WHERE first_id <= ? ORDER BY first_id DESC LIMIT 1",
    );
    this.#dropFrom = db.prepare("DELETE FROM record_chunks WHERE first_id >= ?");
    this.#dataVersion = db.prepare("PRAGMA data_version");
  }

  /** Stores the texts of records with these ids (ascending), inside the caller's transaction. */
  write(rows: { id: number; text: string }[]): void {
    this.#cache.clear();
    // Chunks from these ids on held deleted records whose ids are given out again.
    if (rows.length > 0) this.#dropFrom.run(rows[0].id);
    for (const run of chunkRuns(rows)) {
      this.#insert.run(run[0].id, run[run.length - 1].id, packChunk(run.map((r) => r.text)));
    }
  }

  /** The JSON text of record `id`, or null when no chunk holds it. */
  text(id: number): string | null {
    const version = (this.#dataVersion.get() as { data_version: number }).data_version;
    if (version !== this.#cachedVersion) {
      this.#cache.clear();
      this.#cachedVersion = version;
    }
    for (const [first, chunk] of this.#cache) {
      if (id >= first && id <= chunk.last) return chunk.texts[id - first];
    }
    const row = this.#find.get(id) as
      | { first: number; last: number; data: Uint8Array }
      | undefined;
    if (!row || id > row.last) return null;
    const count = row.last - row.first + 1;
    // A chunk of several records holds under CHUNK_TEXT_BYTES of text (UTF-16 units, so up to
    // three times as many UTF-8 bytes); a record alone can be as long as a string can.
    const texts = unpackChunk(row.data, count, count === 1 ? 2 ** 30 : 4 * CHUNK_TEXT_BYTES);
    if (this.#cache.size >= CACHED_CHUNKS) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    this.#cache.set(row.first, { last: row.last, texts });
    return texts[id - row.first];
  }

  /** Drops the chunks whose records are all gone (ids below `firstKept`); forgets the cache. */
  dropBelow(firstKept: number): void {
    this.#cache.clear();
    this.db.prepare("DELETE FROM record_chunks WHERE first_id < ?1 AND last_id < ?1")
      .run(firstKept);
  }

  /** Forgets what was read (records were deleted or replaced). */
  forget(): void {
    this.#cache.clear();
  }
}
