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

/** Texts packed into chunks before they have ids: each chunk's record count and bytes. */
export interface PackedChunk {
  count: number;
  data: Uint8Array;
}

/**
 * Packs consecutive texts (each one line) into chunks within the chunk limits. Ids are not
 * needed: they are consecutive, so the chunks are the same whatever the first one is, and
 * the compression runs before the writer takes the store's write lock.
 */
export function packChunks(texts: string[]): PackedChunk[] {
  const runs = chunkRuns(texts.map((text, id) => ({ id, text })));
  return runs.map((run) => ({ count: run.length, data: packChunk(run.map((r) => r.text)) }));
}

/**
 * Writes and reads one store's chunks, keeping the last few read decompressed. Record ids
 * are given out once (`store_meta.appended_to` in record_store.ts), never again after their
 * records are deleted, so a chunk's ids always name its own records.
 */
export class RecordChunks {
  readonly #insert: StatementSync;
  readonly #find: StatementSync;
  readonly #byFirst: StatementSync;
  readonly #after: StatementSync;
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
    this.#byFirst = db.prepare(
      "SELECT first_id AS first, last_id AS last, data FROM record_chunks WHERE first_id = ?",
    );
    // A chunk holds at most CHUNK_RECORDS records: the one that holds `after + 1` starts
    // past `after - CHUNK_RECORDS`, a range of the primary key rather than a scan.
    this.#after = db.prepare(
      "SELECT first_id AS first, last_id AS last FROM record_chunks" +
        ` WHERE first_id > ?1 - ${CHUNK_RECORDS} AND last_id > ?1 AND first_id < ?2` +
        " ORDER BY first_id",
    );
    this.#dataVersion = db.prepare("PRAGMA data_version");
  }

  /** Stores packed chunks as the records `firstId`, `firstId + 1`, …; the last id. */
  insertPacked(firstId: number, chunks: PackedChunk[]): number {
    let id = firstId;
    for (const c of chunks) {
      this.#insert.run(id, id + c.count - 1, c.data);
      id += c.count;
    }
    return id - 1;
  }

  /** The chunks holding records above `after` and below `before`, by first id ascending. */
  spans(after: number, before = Number.MAX_SAFE_INTEGER): { first: number; last: number }[] {
    return this.#after.all(after, before) as { first: number; last: number }[];
  }

  /** The texts of the chunk that starts at `first` (empty when there is none). */
  texts(first: number): string[] {
    this.#checkVersion();
    const cached = this.#cache.get(first);
    if (cached) return cached.texts;
    const row = this.#byFirst.get(first) as
      | { first: number; last: number; data: Uint8Array }
      | undefined;
    return row ? this.#unpack(row) : [];
  }

  /** The JSON text of record `id`, or null when no chunk holds it. */
  text(id: number): string | null {
    this.#checkVersion();
    for (const [first, chunk] of this.#cache) {
      if (id >= first && id <= chunk.last) return chunk.texts[id - first];
    }
    const row = this.#find.get(id) as
      | { first: number; last: number; data: Uint8Array }
      | undefined;
    if (!row || id > row.last) return null;
    return this.#unpack(row)[id - row.first];
  }

  #checkVersion(): void {
    const version = (this.#dataVersion.get() as { data_version: number }).data_version;
    if (version !== this.#cachedVersion) {
      this.#cache.clear();
      this.#cachedVersion = version;
    }
  }

  #unpack(row: { first: number; last: number; data: Uint8Array }): string[] {
    const count = row.last - row.first + 1;
    // A chunk of several records holds under CHUNK_TEXT_BYTES of text (UTF-16 units, so up to
    // three times as many UTF-8 bytes); a record alone can be as long as a string can.
    const texts = unpackChunk(row.data, count, count === 1 ? 2 ** 30 : 4 * CHUNK_TEXT_BYTES);
    if (this.#cache.size >= CACHED_CHUNKS) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    this.#cache.set(row.first, { last: row.last, texts });
    return texts;
  }

  /** Drops the chunks whose records are all gone (ids below `firstKept`); forgets the cache. */
  dropBelow(firstKept: number): void {
    this.#cache.clear();
    this.db.prepare("DELETE FROM record_chunks WHERE first_id < ?1 AND last_id < ?1")
      .run(firstKept);
  }
}
