import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  buildWhere,
  CANDIDATE_LIMIT,
  filterMatcher,
  isExact,
  type RecordFilter,
  SCAN_TIME_LIMIT_MS,
} from "./filter.ts";
import type { BodyRange } from "./filter_sql.ts";
import {
  applyToRollups,
  catchUpRollups,
  type PendingStatsRow,
  pendingStatsRow,
  rebuildRollups,
  ROLLUP_SCHEMA,
  statsFromStore,
} from "./rollups.ts";
import {
  columnValues,
  type RecordQueries,
  type RecordStats,
  type RecordSummary,
  STORED_COLUMNS,
  summarize,
} from "./summary.ts";
import {
  dirOf,
  makePrivateDirSync,
  makePrivateFileSync,
  makePrivateIfExistsSync,
} from "../util/private_files.ts";
import type { ParsedRecord } from "../record/parsed_record.ts";
import { recordBodyText } from "./body_text.ts";
import { oneLine, packChunks, RecordChunks } from "./record_chunks.ts";
import { WriterGate } from "./writer_gate.ts";

export type { RecordSummary } from "./summary.ts";

/** The JSON an export (HAR) reads at most: the newest records that fit. */
export const FULL_EXPORT_MAX_BYTES = 128 * 1024 * 1024;

/**
 * The embedded record store: GOST records in one SQLite file. Each record is a row of the
 * columns that filters and aggregates use; its full JSON is kept compressed with its
 * neighbours' (`record_chunks.ts`). Writes arrive in batches from
 * the `store` recorder (one transaction each); a file-backed store is written and queried
 * by a worker of its own (`store_worker.ts`) through a second connection, and the store on
 * the proxy's thread tells listeners about every new record (the web UI's live list).
 */

export interface RetentionOptions {
  /** Drop records older than this (ms; 0 = keep). */
  maxAgeMs: number;
  /** Keep at most this many records (0 = no limit). */
  maxRecords: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  time TEXT NOT NULL,
  service TEXT NOT NULL,
  client_ip TEXT NOT NULL,
  host TEXT NOT NULL,
  proto TEXT NOT NULL,
  kind TEXT NOT NULL,
  method TEXT NOT NULL,
  uri TEXT NOT NULL,
  status INTEGER NOT NULL,
  http_proto TEXT NOT NULL,
  input_bytes INTEGER NOT NULL,
  output_bytes INTEGER NOT NULL,
  duration_ns INTEGER NOT NULL,
  err TEXT NOT NULL,
  sid TEXT NOT NULL,
  search TEXT NOT NULL,
  json TEXT NOT NULL,
  status_class INTEGER GENERATED ALWAYS AS (status / 100) VIRTUAL,
  ja3 TEXT,
  ja4 TEXT
);
-- Single-column indexes: an equality lookup walks them in id order, so "newest first,
-- LIMIT n" stops after n rows instead of sorting every match.
CREATE INDEX IF NOT EXISTS records_time ON records (time_ms);
CREATE INDEX IF NOT EXISTS records_host ON records (host);
-- No index on status itself: an exact status is looked up through its class (filter.ts), and
-- one index fewer is ~10% more ingest.
CREATE INDEX IF NOT EXISTS records_status_class ON records (status_class);
CREATE INDEX IF NOT EXISTS records_sid ON records (sid);
-- Free text (URI, HTTP host, headers) by words, without reading every record. Words, not
-- trigrams: trigram indexing halved the ingest rate (deno task bench store); and without
-- positions (detail=none), which cut its cost per record from ~20 to ~2 µs. Contentless: the
-- text is kept once, in records.search.
CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5(
  search, content='', contentless_delete=1, detail=none
);
`;

/**
 * JA3/JA4 came after the first stores: a store without the columns gets them, filled in from
 * the ClientHellos its records carry. The indexes are partial (TLS records only, the
 * others hold NULL), so records without a hello cost them nothing.
 */
const FINGERPRINT_INDEXES = `
CREATE INDEX IF NOT EXISTS records_ja3 ON records (ja3) WHERE ja3 IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_ja4 ON records (ja4) WHERE ja4 IS NOT NULL;
`;

function addFingerprintColumns(
  db: DatabaseSync,
  textOf: (id: number, inline: string) => string | null,
): void {
  const columns = db.prepare("PRAGMA table_info(records)").all() as { name: string }[];
  if (columns.some((c) => c.name === "ja4")) return;
  db.exec("BEGIN");
  try {
    db.exec("ALTER TABLE records ADD COLUMN ja3 TEXT; ALTER TABLE records ADD COLUMN ja4 TEXT;");
    const update = db.prepare("UPDATE records SET ja3 = ?, ja4 = ? WHERE id = ?");
    const rows = db.prepare("SELECT id, json FROM records").iterate() as Iterable<
      { id: number; json: string }
    >;
    const found: [string | null, string | null, number][] = [];
    for (const row of rows) {
      const text = textOf(row.id, row.json);
      if (!text?.includes('"clientHello":"1')) continue;
      try {
        const { summary } = summarize(JSON.parse(text));
        if (summary.ja3 || summary.ja4) found.push([summary.ja3, summary.ja4, row.id]);
      } catch {
        // a record that no longer parses keeps NULL
      }
    }
    for (const f of found) update.run(...f);
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

/**
 * Body text in the word index (user_version 2). Every record from `bodies_indexed_from` (an
 * id) on has its decoded body text (`body_text.ts`) in `records_fts` beside its search text;
 * the records below it (stored before the index took bodies, or while a store did not index
 * them) are candidates for every body term (`filter_sql.ts`). A store from before starts the
 * mark past its last record instead of indexing its bodies again when opened.
 */
const BODY_INDEX_SCHEMA = `
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

function markBodyIndex(db: DatabaseSync, version: number): void {
  if (version >= 2) return;
  db.exec("BEGIN");
  try {
    db.exec(BODY_INDEX_SCHEMA);
    const last = (db.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM records").get() as {
      id: number;
    }).id;
    db.prepare("INSERT OR REPLACE INTO store_meta (key, value) VALUES ('bodies_indexed_from', ?)")
      .run(last + 1);
    db.exec("PRAGMA user_version = 2");
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

/**
 * Records are written in two steps (`appendBatch`, then `indexPending`): their JSON first, in
 * chunks, under ids given out from `appended_to`; their rows, word index and rollups after,
 * up to `indexed_to`. The records between are pending: every query reads them from their
 * chunks. A store from before has every record indexed.
 */
function markAppended(db: DatabaseSync): void {
  // Under the write lock: another connection opening the store at once marks it only once.
  db.exec("BEGIN IMMEDIATE");
  try {
    const last = (db.prepare(LAST_ID_TAKEN).get(0) as { id: number }).id;
    if (db.prepare("SELECT 1 FROM store_meta WHERE key = 'appended_to'").get()) {
      // An older snoop, run on this store since, gave out ids past the marks, and wrote each
      // record's row with its chunk: the records up to its last row are indexed.
      const lastRow = (db.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM records").get() as {
        id: number;
      }).id;
      const raise = db.prepare("UPDATE store_meta SET value = ?1 WHERE key = ?2 AND value < ?1");
      raise.run(last, "appended_to");
      raise.run(lastRow, "indexed_to");
    } else {
      const set = db.prepare("INSERT INTO store_meta (key, value) VALUES (?, ?)");
      set.run("appended_to", last);
      set.run("indexed_to", last);
    }
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

/**
 * The last id given out: `appended_to` (the parameter), or past it a row's or a chunk's that
 * an older snoop wrote (it gave ids from the rows and did not move the mark). Index lookups.
 */
const LAST_ID_TAKEN = "SELECT MAX(?1, COALESCE((SELECT MAX(id) FROM records), 0)," +
  " COALESCE((SELECT last_id FROM record_chunks ORDER BY first_id DESC LIMIT 1), 0)) AS id";

export interface StoreOptions {
  /**
   * Put decoded body text in the word index, so body terms narrow their candidates through
   * it (the store's worker does this; a store written on the proxy's thread does not).
   */
  indexBodies?: boolean;
  /**
   * The buffer of the gate a store's writer and indexer share (`writer_gate.ts`,
   * WRITER_GATE_BYTES): the indexer lets the writer go first.
   */
  writerGate?: SharedArrayBuffer;
  /**
   * The WAL's size in pages past which a commit on this connection checkpoints it (copies it
   * into the database file and syncs that): CHECKPOINT_PAGES by default. The connection that
   * commits is the one that waits for it, so a store's writer leaves it to the indexer, up
   * to WRITER_CHECKPOINT_PAGES (when the indexer has had no time for long).
   */
  checkpointPages?: number;
}

/** 4,096 pages (16 MiB). */
export const CHECKPOINT_PAGES = 4096;

/**
 * 65,536 pages (256 MiB). A writer that checkpointed every 16 MiB stopped appending for a
 * quarter to half a second each time, about once a second under `bench mainjob`'s load: the
 * recorder's queue overflowed.
 */
export const WRITER_CHECKPOINT_PAGES = 65_536;

const CANDIDATE_CHUNK = 500;

/** SQLite's page cache per connection, in KiB. */
const CACHE_KIB = 8 * 1024;

/**
 * How long aggregates read pending records at most (they are parsed one by one); past it, the
 * answer is `partial`. Pending records pile up only while the machine has no time to index.
 */
const PENDING_STATS_MS = 250;

/** How many of its transactions in a row the indexer gives up for the writer at most. */
const GIVE_UPS = 3;

/** Thrown inside the indexer's transaction when the writer comes: it is rolled back. */
const WRITER_CAME = new Error("the writer is waiting");

/** A record from its JSON text; null when it is none. */
function parseRecord(text: string): ParsedRecord | null {
  try {
    const record = JSON.parse(text);
    return record && typeof record === "object" && !Array.isArray(record) ? record : null;
  } catch {
    return null;
  }
}

/** Captured bodies (base64, so no quote or backslash inside) as a record's JSON holds them. */
const BODY_VALUES = /"body":"[A-Za-z0-9+/=]*"/g;

/**
 * A record without its bodies, for what needs only its columns: a record with bodies of
 * megabytes is parsed without making them into strings. Small records, and any whose text
 * the cut leaves unparsable, are parsed whole.
 */
function parseWithoutBodies(text: string): ParsedRecord | null {
  if (text.length > 16 * 1024) {
    const lean = parseRecord(text.replace(BODY_VALUES, '"body":null'));
    if (lean) return lean;
  }
  return parseRecord(text);
}

/**
 * How much record text a query reads from pending records at most (past the first match): a
 * record can hold megabytes of bodies, and each is decompressed and parsed; past it, the
 * answer is `partial`, with where to go on.
 */
const PENDING_SCAN_CHARS = 32 * 1024 * 1024;

/** How long an export reads pending records at most. */
const EXPORT_SCAN_MS = 10_000;

/** How far past `maxRecords` (a share of it) a store goes before its oldest are deleted. */
export const RECORD_SLACK = 0.01;

const SUMMARY_COLUMNS =
  `id, time, time_ms AS timeMs, service, client_ip AS client, host, proto, kind,
  method, uri, status, http_proto AS httpProto, input_bytes AS inputBytes,
  output_bytes AS outputBytes, duration_ns / 1e6 AS durationMs, err, sid, ja3, ja4`;

/** A record to insert: its columns and its words for the index. */
type Row = { summary: RecordSummary; search: string; words: string };

export class RecordStore implements RecordQueries {
  readonly db: DatabaseSync;
  readonly #insertText: StatementSync;
  readonly #savepoint: StatementSync;
  readonly #release: StatementSync;
  readonly #rollbackTo: StatementSync;
  readonly #moveBodyMark: StatementSync;
  readonly #getMeta: StatementSync;
  readonly #setMeta: StatementSync;
  readonly #insertWithId: StatementSync;
  readonly #lastIdTaken: StatementSync;
  readonly indexBodies: boolean;
  readonly #gate: WriterGate;
  readonly #chunks: RecordChunks;
  readonly #listeners = new Set<(r: RecordSummary) => void>();
  /**
   * Whether the writer was waiting when the last `indexPending` transaction ended: the system
   * is busy, and the indexer should leave the lock alone for a while.
   */
  writerWaited = false;
  /** The record text the last `indexPending` read (a worker collects its heap by it). */
  indexedChars = 0;
  /** The indexer's transactions given up for the writer in a row. */
  #givenUp = 0;
  /** Records kept (null: not counted yet). */
  #kept: number | null = null;
  written = 0;

  constructor(
    readonly path: string,
    readonly retention: RetentionOptions = { maxAgeMs: 0, maxRecords: 0 },
    options: StoreOptions = {},
  ) {
    this.indexBodies = options.indexBodies ?? true;
    this.#gate = new WriterGate(options.writerGate);
    // The store holds decrypted traffic: its directory (when snoop makes it) is 0700, the
    // database 0600 before SQLite first opens it. SQLite gives the -wal and -shm files the
    // database's mode; they are set once more below for stores made before.
    const onDisk = path !== ":memory:" && path !== "";
    if (onDisk) {
      const dir = dirOf(path);
      if (dir) makePrivateDirSync(dir);
      makePrivateFileSync(path);
    }
    // Two connections share a file-backed store (its worker's and the proxy thread's): one
    // that meets the other's lock waits for it rather than failing.
    this.db = new DatabaseSync(path, { timeout: 5000 });
    // The page cache (CACHE_KIB) is the process's memory, and ingest touches new pages all the
    // time, so it fills whatever its size; the pages reads miss are in the system's file cache.
    // Checkpointing the WAL every 4,096 pages (16 MiB) instead of SQLite's 1,000 writes a page
    // that many batches touch once per checkpoint rather than once per batch; the WAL file is
    // cut back to that size after a checkpoint, as it is on disk beside a store of any size
    // (`deno task bench store` measures ingest, `bench mainjob --sustained` bytes a record).
    this.db.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -${CACHE_KIB};` +
        ` PRAGMA wal_autocheckpoint = ${options.checkpointPages ?? CHECKPOINT_PAGES};` +
        ` PRAGMA journal_size_limit = ${16 * 1024 * 1024};`,
    );
    this.db.exec(SCHEMA);
    // The oldest records are deleted as new ones come (retention), a few at a time. By default
    // the word index rewrites a segment once a tenth of its rows are deleted: under that churn
    // it rewrote its largest segment every few trims, and a trim cost ~70 µs a record where
    // it costs ~17 with the threshold at half (the index stays the same size).
    this.db.exec("INSERT INTO records_fts (records_fts, rank) VALUES ('deletemerge', 50)");
    this.#chunks = new RecordChunks(this.db);
    addFingerprintColumns(this.db, (id, inline) => this.#text(id, inline));
    this.db.exec(FINGERPRINT_INDEXES);
    if (onDisk) { for (const f of [`${path}-wal`, `${path}-shm`]) makePrivateIfExistsSync(f); }
    // user_version 1: rollups exist and match the records (stores from before get them built).
    const version = (this.db.prepare("PRAGMA user_version").get() as { user_version: number })
      .user_version;
    if (version < 1) {
      this.db.exec("BEGIN");
      this.db.exec(ROLLUP_SCHEMA);
      rebuildRollups(this.db);
      this.db.exec("PRAGMA user_version = 1");
      this.db.exec("COMMIT");
    }
    markBodyIndex(this.db, Math.max(version, 1));
    markAppended(this.db);
    this.#getMeta = this.db.prepare("SELECT value FROM store_meta WHERE key = ?");
    this.#lastIdTaken = this.db.prepare(LAST_ID_TAKEN);
    this.#setMeta = this.db.prepare("UPDATE store_meta SET value = ? WHERE key = ?");
    this.#moveBodyMark = this.db.prepare(
      "UPDATE store_meta SET value = MAX(value, ?) WHERE key = 'bodies_indexed_from'",
    );
    this.#insertText = this.db.prepare("INSERT INTO records_fts (rowid, search) VALUES (?, ?)");
    this.#savepoint = this.db.prepare("SAVEPOINT one_record");
    this.#release = this.db.prepare("RELEASE one_record");
    this.#rollbackTo = this.db.prepare("ROLLBACK TO one_record");
    this.#insertWithId = this.db.prepare(
      `INSERT INTO records (id, ${STORED_COLUMNS.join(", ")}) VALUES (?, ${
        STORED_COLUMNS.map(() => "?").join(", ")
      })`,
    );
  }

  /**
   * Stores records (GOST JSON text) and indexes them, all on this connection; returns how
   * many were stored. What a store without a worker runs (`:memory:`, `snoop import`).
   */
  insertBatch(jsonRecords: string[]): number {
    return this.announce(this.writeBatch(jsonRecords));
  }

  /**
   * Appends records and indexes every pending one, telling no listener; returns the
   * summaries of the records indexed.
   */
  writeBatch(jsonRecords: string[]): RecordSummary[] {
    this.appendBatch(jsonRecords);
    const summaries: RecordSummary[] = [];
    for (;;) {
      // Nobody waits for this connection's lock: a transaction as large as the batch.
      const step = this.indexPending(Number.MAX_SAFE_INTEGER, Infinity);
      if (step === null) return summaries;
      for (const s of step) summaries.push(s);
    }
  }

  /**
   * The first step of storing records: their JSON, compressed in chunks under ids given out
   * here, in one short transaction; a record is found by every query from then on (read
   * from its chunk while pending). Its columns, word index and rollups come in the second
   * step (`indexPending`), which the store's worker leaves to a thread that runs when the
   * machine has time: that step costs several times this one. Returns how many records were
   * appended, with `summaries` their summaries (for listeners: each record is parsed then).
   * Text that is not a JSON object is left out; one that does not parse is appended and
   * left out when indexed.
   */
  appendBatch(jsonRecords: string[], summaries = false): number | RecordSummary[] {
    const texts: string[] = [];
    for (let text of jsonRecords) {
      if (text.charCodeAt(0) !== 0x7b) text = text.trim();
      if (text.charCodeAt(0) !== 0x7b) continue; // `null`, a number, a list: no record
      if (!text.includes("\n")) {
        texts.push(text);
        continue;
      }
      try {
        texts.push(oneLine(text, JSON.parse(text)));
      } catch {
        // not JSON: nothing to store
      }
    }
    if (texts.length === 0) return summaries ? [] : 0;
    const packed = packChunks(texts);
    const first = this.#gate.asWriter(() => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const first = (this.#lastIdTaken.get(this.#meta("appended_to")) as { id: number }).id + 1;
        const last = this.#chunks.insertPacked(first, packed);
        this.#setMeta.run(last, "appended_to");
        this.db.exec("COMMIT");
        return first;
      } catch (e) {
        this.db.exec("ROLLBACK");
        throw e;
      }
    });
    if (this.#kept !== null) this.#kept += texts.length;
    if (!summaries) return texts.length;
    const out: RecordSummary[] = [];
    texts.forEach((text, i) => {
      const summary = this.#summaryOf(text);
      if (summary) out.push({ ...summary, id: first + i });
    });
    return out;
  }

  /**
   * The second step: the rows, word index and rollups of the oldest pending records, in one
   * transaction: the first pending chunk, then the next ones (up to `maxChunks`) while the
   * transaction is under `budgetMs` old. Few large transactions cost a record half as much as
   * a chunk each (the word index writes a segment per transaction), but the writer waits
   * while one runs, and an indexer the system runs last takes long over little: the clock
   * bounds both. Returns their summaries, or null when nothing is pending. Another connection
   * indexing the same records first is noticed under the write lock, and this one starts
   * over from where that one ended.
   */
  indexPending(maxChunks = 16, budgetMs = 20): RecordSummary[] | null {
    for (;;) {
      const from = this.#meta("indexed_to");
      const spans = this.#chunks.spans(from).slice(0, maxChunks);
      if (spans.length === 0) return null;
      // The first chunk is made ready before the write lock is taken.
      this.indexedChars = 0;
      let ready = this.#rowsOf(spans[0], from);
      this.#gate.waitForWriter();
      this.db.exec("BEGIN IMMEDIATE");
      this.#gate.indexerHolds(true);
      const summaries: RecordSummary[] = [];
      try {
        if (this.#meta("indexed_to") !== from) {
          this.db.exec("ROLLBACK");
          this.#gate.indexerHolds(false);
          continue;
        }
        const deadline = performance.now() + budgetMs;
        let upTo = from;
        for (let i = 0; i < spans.length; i++) {
          if (i > 0) {
            if (performance.now() > deadline || this.#gate.writerWaiting) break;
            ready = this.#rowsOf(spans[i], from);
          }
          for (const s of this.#insertChunk(ready)) summaries.push(s);
          upTo = spans[i].last;
        }
        catchUpRollups(this.db, upTo);
        if (!this.indexBodies) this.#moveBodyMark.run(upTo + 1);
        this.#setMeta.run(upTo, "indexed_to");
        this.writerWaited = this.#gate.writerWaiting;
        this.db.exec("COMMIT");
        this.#givenUp = 0;
      } catch (e) {
        this.db.exec("ROLLBACK");
        if (e !== WRITER_CAME) throw e;
        // Given up for the writer: the same records again next time.
        this.#givenUp++;
        this.writerWaited = true;
        return [];
      } finally {
        this.#gate.indexerHolds(false);
      }
      return summaries;
    }
  }

  /** The rows of a chunk's records above `from`. */
  #rowsOf(span: { first: number }, from: number): (Row & { id: number })[] {
    const rows: (Row & { id: number })[] = [];
    this.#textsOf(span.first).forEach((text, i) => {
      const id = span.first + i;
      if (id <= from) return;
      this.indexedChars += text.length;
      const row = this.#rowOf(text);
      if (row) rows.push({ ...row, id });
    });
    return rows;
  }

  /**
   * Inserts a chunk's rows inside the caller's transaction: all at once, or when one fails
   * (a field of the wrong type that becomes NULL in a NOT NULL column), each under a
   * savepoint of its own, leaving out those that fail. Only then: a savepoint per record
   * slows every chunk down.
   */
  #insertChunk(rows: (Row & { id: number })[]): RecordSummary[] {
    try {
      this.db.exec("SAVEPOINT chunk");
      const summaries = this.#insertRows(rows, false);
      this.db.exec("RELEASE chunk");
      return summaries;
    } catch (e) {
      if (e === WRITER_CAME) throw e;
      this.db.exec("ROLLBACK TO chunk");
      this.db.exec("RELEASE chunk");
      return this.#insertRows(rows, true);
    }
  }

  /** How many records are appended and not yet indexed. */
  pendingCount(): number {
    return Math.max(0, this.#meta("appended_to") - this.#meta("indexed_to"));
  }

  /**
   * The texts of a chunk; none when it cannot be read (damaged on disk): its records are then
   * lost alone, instead of every later record staying pending behind it.
   */
  #textsOf(first: number): string[] {
    try {
      return this.#chunks.texts(first);
    } catch {
      return [];
    }
  }

  #meta(key: "appended_to" | "indexed_to"): number {
    return (this.#getMeta.get(key) as { value: number }).value;
  }

  /** A record's row, from its JSON text (null when it is no record). */
  #rowOf(text: string): Row | null {
    try {
      const record = JSON.parse(text);
      const { summary, search } = summarize(record);
      const words = this.indexBodies ? `${search}\n${recordBodyText(record)}` : search;
      return { summary, search, words };
    } catch {
      return null; // not JSON, or not a record: nothing to store
    }
  }

  #summaryOf(text: string): RecordSummary | null {
    try {
      return summarize(JSON.parse(text)).summary;
    } catch {
      return null;
    }
  }

  /** Inserts rows with their ids; `alone`: each under its own savepoint, leaving out those that fail. */
  #insertRows(rows: (Row & { id: number })[], alone: boolean): RecordSummary[] {
    const summaries: RecordSummary[] = [];
    for (const { id, summary, search, words } of rows) {
      // Niced under load, what is left of the transaction would hold the writer up many
      // times as long as it takes to compute: the indexer gives it all up instead, but not
      // more than GIVE_UPS times in a row (it would make no progress under a steady load).
      if (this.#givenUp < GIVE_UPS && this.#gate.writerWaiting) throw WRITER_CAME;
      if (alone) this.#savepoint.run();
      try {
        this.#insertWithId.run(id, ...columnValues(summary, search, ""));
        summary.id = id;
        this.#insertText.run(id, words);
      } catch (e) {
        if (!alone) throw e;
        this.#rollbackTo.run();
        this.#release.run();
        continue;
      }
      if (alone) this.#release.run();
      summaries.push(summary);
    }
    return summaries;
  }

  /** A record's JSON text: its row's (stores from before chunks), else its chunk's. */
  #text(id: number, inline: string): string | null {
    return inline || this.#chunks.text(id);
  }

  /** Counts stored records and tells the listeners; returns how many there were. */
  announce(summaries: RecordSummary[]): number {
    this.written += summaries.length;
    for (const s of summaries) for (const l of this.#listeners) l(s);
    return summaries.length;
  }

  /** Counts records another connection stored, none of them announced; returns how many. */
  countStored(n: number): number {
    this.written += n;
    return n;
  }

  /** Whether anyone listens for new records (a worker then sends their summaries over). */
  get listened(): boolean {
    return this.#listeners.size > 0;
  }

  /** Calls `fn` for every stored record from now on; returns the unsubscribe function. */
  subscribe(fn: (r: RecordSummary) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  list(
    filter: RecordFilter,
    limit = 100,
    before?: number,
  ): Promise<{ records: RecordSummary[]; next: number | null }> {
    return Promise.resolve(this.listSync(filter, limit, before));
  }

  /**
   * Runs queries on one snapshot of the store: the pending records and the rows they read
   * are then the same records, whatever another connection indexes meanwhile.
   */
  #snapshot<T>(read: () => T): T {
    if (this.db.isTransaction) return read();
    this.db.exec("BEGIN");
    try {
      return read();
    } finally {
      this.db.exec("COMMIT");
    }
  }

  /**
   * Pending records (appended, not yet indexed) that `test` accepts, newest first from below
   * `before`, each parsed and then kept as `keep` makes it (a summary rather than a record:
   * records can hold megabytes of bodies): until `limit` of them, or the deadline. `next`:
   * the id to go on below (null when the pending records ran out).
   */
  #pendingMatches<T>(
    test: (record: ParsedRecord, id: number) => boolean,
    keep: (record: ParsedRecord, id: number) => T,
    limit: number,
    before: number | undefined,
    deadline: number,
    /** Whether `test` and `keep` do without bodies (an exact filter; a summary). */
    lean = false,
    /** Record text read at most (past the first record). */
    maxChars = PENDING_SCAN_CHARS,
    /** Text every matching record's JSON holds: the others are not parsed. */
    hint?: string,
  ): { found: T[]; next: number | null; partial: boolean } {
    const found: T[] = [];
    let read = 0;
    const indexed = this.#meta("indexed_to");
    const below = before ?? Number.MAX_SAFE_INTEGER;
    const spans = this.#chunks.spans(indexed, below);
    for (let s = spans.length - 1; s >= 0; s--) {
      const texts = this.#textsOf(spans[s].first);
      for (let i = texts.length - 1; i >= 0; i--) {
        const id = spans[s].first + i;
        if (id <= indexed || id >= below) continue;
        // Past a bound, the answer stops before this record: `next` (a `before`) includes it.
        if (
          read > 0 &&
          (read + texts[i].length > maxChars || performance.now() > deadline)
        ) return { found, next: id + 1, partial: true };
        read += texts[i].length;
        if (hint !== undefined && !texts[i].includes(hint)) continue;
        const record = lean ? parseWithoutBodies(texts[i]) : parseRecord(texts[i]);
        if (record && test(record, id)) {
          found.push(keep(record, id));
          if (found.length >= limit) return { found, next: id, partial: false };
        }
      }
    }
    return { found, next: null, partial: false };
  }

  /** The filter as a test of a pending record (which has no row to be selected by). */
  #pendingTest(filter: RecordFilter): (record: ParsedRecord, id: number) => boolean {
    const test = filterMatcher(filter);
    const ids = filter.ids ? new Set(filter.ids) : null;
    return (record, id) => (!ids || ids.has(id)) && test(record);
  }

  /**
   * The records an inexact filter selects, newest first from below `before`: pending records
   * first, then candidates from the SQL, each tested whole, until `limit` match or
   * `CANDIDATE_LIMIT` were read. `next`: where a further scan would start (null when the
   * candidates ran out).
   */
  scanSync(
    filter: RecordFilter,
    limit: number,
    before?: number,
    columns = "id",
  ): { rows: Record<string, unknown>[]; next: number | null; partial: boolean } {
    return this.#snapshot(() => {
      const deadline = performance.now() + SCAN_TIME_LIMIT_MS;
      const pending = this.#pendingMatches(
        this.#pendingTest(filter),
        (record, id): Record<string, unknown> =>
          columns === "id" ? { id, json: record } : { ...summarize(record).summary, id },
        limit + 1,
        before,
        deadline,
      );
      const rows = pending.found;
      if (pending.partial) return { rows, next: pending.next, partial: true };
      if (rows.length > limit) return { rows, next: rows[limit - 1].id as number, partial: false };
      const rest = this.#scanRows(
        filter,
        limit - rows.length,
        before,
        columns,
        deadline,
      );
      return { rows: [...rows, ...rest.rows], next: rest.next, partial: rest.partial };
    });
  }

  #scanRows(
    filter: RecordFilter,
    limit: number,
    before: number | undefined,
    columns: string,
    deadline: number,
  ): { rows: Record<string, unknown>[]; next: number | null; partial: boolean } {
    const test = filterMatcher(filter);
    const rows: Record<string, unknown>[] = [];
    let cursor = before, scanned = 0;
    // Records whose bodies the word index holds first (a body term then reads only those the
    // index names), then those stored before it held bodies (each a candidate). One query
    // for both would read every row: an OR of the two keeps SQLite from using the index.
    const mark = this.#bodiesIndexedFrom();
    let range: BodyRange = cursor === undefined || cursor > mark ? "indexed" : "unindexed";
    for (;;) {
      let { sql, params } = buildWhere(filter, cursor, "sqlite", range);
      if (range === "indexed") {
        sql = sql ? `${sql} AND id >= ?` : "WHERE id >= ?";
        params = [...params, mark];
      }
      const chunk = this.db.prepare(
        `SELECT ${columns}, json AS json_text FROM records ${sql} ORDER BY id DESC LIMIT ?`,
      ).all(...params, CANDIDATE_CHUNK) as Record<string, unknown>[];
      for (const row of chunk) {
        scanned++;
        cursor = row.id as number;
        let record;
        try {
          record = JSON.parse(this.#text(row.id as number, row.json_text as string) ?? "");
        } catch {
          continue;
        }
        if (test(record)) {
          delete row.json_text;
          rows.push(columns === "id" ? { id: row.id, json: record } : row);
          if (rows.length > limit) {
            return { rows, next: rows[limit - 1].id as number, partial: false };
          }
        }
        if (performance.now() > deadline) return { rows, next: cursor, partial: true };
      }
      if (chunk.length < CANDIDATE_CHUNK) {
        if (range === "unindexed" || mark <= 1) return { rows, next: null, partial: false };
        range = "unindexed";
        cursor = mark;
        continue;
      }
      if (scanned >= CANDIDATE_LIMIT) return { rows, next: cursor ?? null, partial: true };
    }
  }

  /** Newest first; `before` (an id) pages further back. */
  listSync(
    filter: RecordFilter,
    limit = 100,
    before?: number,
  ): { records: RecordSummary[]; next: number | null; partial?: boolean } {
    if (!isExact(filter)) {
      const scan = this.scanSync(filter, limit, before, SUMMARY_COLUMNS);
      const records = scan.rows.slice(0, limit).map((r) => ({
        ...r,
      })) as unknown as RecordSummary[];
      return scan.partial
        ? { records, next: scan.next, partial: true }
        : { records, next: scan.next };
    }
    return this.#snapshot(() => {
      const deadline = performance.now() + SCAN_TIME_LIMIT_MS;
      const pending = this.#pendingMatches(
        this.#pendingTest(filter),
        (record, id): RecordSummary => ({ ...summarize(record).summary, id }),
        limit + 1,
        before,
        deadline,
        true,
      );
      const records = pending.found;
      if (pending.partial) return { records, next: pending.next, partial: true };
      if (records.length > limit) {
        return { records: records.slice(0, limit), next: records[limit - 1].id };
      }
      const { sql, params } = buildWhere(filter, before, "sqlite");
      const want = limit - records.length;
      const rows = this.db.prepare(
        `SELECT ${SUMMARY_COLUMNS} FROM records ${sql} ORDER BY id DESC LIMIT ?`,
      ).all(...params, want + 1) as unknown as RecordSummary[];
      for (const r of rows.slice(0, want)) records.push({ ...r });
      const more = rows.length > want;
      return { records, next: more && records.length > 0 ? records[records.length - 1].id : null };
    });
  }

  /** The full records (GOST JSON) matching a filter, oldest first, for export. */
  full(filter: RecordFilter, limit = 10_000): Promise<{ id: number; json: ParsedRecord }[]> {
    return Promise.resolve(this.fullSync(filter, limit));
  }

  /**
   * As `full`, newest first up to `limit` records and, past the first, `maxBytes` of their JSON:
   * records hold bodies (up to `http.maxBodySize` each way), and an export of thousands of
   * them would otherwise be built in memory whole, on the thread that also serves the proxy.
   */
  fullSync(
    filter: RecordFilter,
    limit = 10_000,
    maxBytes = FULL_EXPORT_MAX_BYTES,
  ): { id: number; json: ParsedRecord }[] {
    if (!isExact(filter)) {
      const { rows } = this.scanSync(filter, limit);
      return (rows.slice(0, limit) as { id: number; json: ParsedRecord }[]).reverse();
    }
    return this.#snapshot(() => {
      const out: { id: number; json: ParsedRecord }[] = [];
      let bytes = 0;
      const test = this.#pendingTest(filter);
      // Pending records: their length is measured as read, like the rows' below. An export
      // is the newest records that fit: one cut short among them ends it there.
      const pending = this.#pendingMatches(
        (record, id) => {
          if (!test(record, id)) return false;
          bytes += JSON.stringify(record).length;
          return out.length === 0 || bytes <= maxBytes;
        },
        (json, id) => out.push({ id, json }),
        limit,
        undefined,
        performance.now() + EXPORT_SCAN_MS,
        false,
        2 * maxBytes,
      );
      if (pending.partial || out.length >= limit || (out.length > 0 && bytes > maxBytes)) {
        return out.reverse();
      }
      const { sql, params } = buildWhere(filter, undefined, "sqlite");
      for (
        const r of this.db.prepare(`SELECT id, json FROM records ${sql} ORDER BY id DESC LIMIT ?`)
          .iterate(...params, limit - out.length) as Iterable<{ id: number; json: string }>
      ) {
        const json = this.#text(r.id, r.json);
        if (json === null) continue;
        bytes += json.length;
        if (out.length > 0 && bytes > maxBytes) break;
        out.push({ id: r.id, json: JSON.parse(json) });
      }
      return out.reverse();
    });
  }

  get(id: number): Promise<ParsedRecord | null> {
    return Promise.resolve(this.getSync(id));
  }

  getSync(id: number): ParsedRecord | null {
    return this.#snapshot(() => {
      const row = this.db.prepare("SELECT id, json FROM records WHERE id = ?").get(id) as
        | { id: number; json: string }
        | undefined;
      if (row) {
        const text = this.#text(row.id, row.json);
        return text === null ? null : JSON.parse(text);
      }
      // A pending record has no row yet; an indexed id without one was deleted or no record.
      if (id <= this.#meta("indexed_to") || id > this.#meta("appended_to")) return null;
      const text = this.#chunks.text(id);
      if (text === null) return null;
      try {
        return JSON.parse(text);
      } catch {
        return null;
      }
    });
  }

  bySid(sid: string): Promise<ParsedRecord[]> {
    return Promise.resolve(this.bySidSync(sid));
  }

  bySidSync(sid: string): ParsedRecord[] {
    return this.#snapshot(() => {
      const rows = this.db.prepare("SELECT id, json FROM records WHERE sid = ? ORDER BY id")
        .all(sid) as { id: number; json: string }[];
      const records = rows.flatMap((r) => {
        const text = this.#text(r.id, r.json);
        return text === null ? [] : [JSON.parse(text)];
      });
      const pending = this.#pendingMatches(
        (record) => String(record.sid ?? "") === sid,
        (record) => record,
        Number.MAX_SAFE_INTEGER,
        undefined,
        performance.now() + SCAN_TIME_LIMIT_MS,
        false,
        4 * PENDING_SCAN_CHARS,
        // A session id as snoop makes them is written as it is in the JSON.
        /^[A-Za-z0-9_-]+$/.test(sid) ? `"${sid}"` : undefined,
      );
      return [...records, ...pending.found.reverse()];
    });
  }

  stats(filter: RecordFilter): Promise<RecordStats> {
    return Promise.resolve(this.statsSync(filter));
  }

  /**
   * Aggregates over the filtered records (from the rollups where the filter allows), pending
   * records included. An inexact filter's records are found first (at most `CANDIDATE_LIMIT`
   * candidates read; `partial` when there were more), and aggregated by id.
   */
  statsSync(filter: RecordFilter) {
    return this.#snapshot(() => {
      if (isExact(filter)) {
        const pending = this.#pendingMatches(
          this.#pendingTest(filter),
          (record) => pendingStatsRow(summarize(record).summary),
          CANDIDATE_LIMIT,
          undefined,
          performance.now() + PENDING_STATS_MS,
          true,
        );
        const stats = statsFromStore(this.db, filter, true, pending.found);
        return pending.next === null ? stats : { ...stats, partial: true };
      }
      const { rows, partial } = this.scanSync(filter, CANDIDATE_LIMIT);
      const indexed = this.#meta("indexed_to");
      const ids: number[] = [], extra: PendingStatsRow[] = [];
      for (const r of rows) {
        const id = r.id as number;
        if (id <= indexed) ids.push(id);
        else extra.push(pendingStatsRow(summarize(r.json as ParsedRecord).summary));
      }
      const stats = statsFromStore(this.db, { ids }, true, extra);
      return partial ? { ...stats, partial } : stats;
    });
  }

  /**
   * Whether the store holds more than `maxRecords` by more than RECORD_SLACK of it. The
   * store's worker asks after every batch and trims at once (`enforceRecordLimit`): waiting
   * for the next minute let a store under load pass its cap tenfold, and trimming after every
   * batch would delete a few records at a time, each time at the cost of many.
   */
  overRecordLimit(): boolean {
    const max = this.retention.maxRecords;
    return max > 0 && this.#keptCount() > max + Math.max(1, Math.floor(max * RECORD_SLACK));
  }

  /** Applies both retention limits; returns how many records were removed. */
  enforceRetention(now = Date.now()): number {
    // Counted again: another connection (`snoop import`, say) may have written since.
    this.#kept = null;
    return this.enforceAgeLimit(now) + this.enforceRecordLimit();
  }

  /**
   * Deletes the indexed records older than `maxAge`; returns how many. Pending records are
   * dated once indexed: the indexer applies this limit after each run.
   */
  enforceAgeLimit(now = Date.now()): number {
    if (this.retention.maxAgeMs <= 0) return 0;
    const cut = now - this.retention.maxAgeMs;
    // Most runs find nothing to delete: the index on time_ms answers that alone.
    if (!this.db.prepare("SELECT 1 FROM records WHERE time_ms < ? LIMIT 1").get(cut)) return 0;
    const removed = this.#writeTransaction(() => this.#dropIn("time_ms < ?", cut));
    if (this.#kept !== null) this.#kept -= removed;
    return removed;
  }

  /**
   * Deletes the oldest records beyond `maxRecords`; returns how many. When more records are
   * pending than the cap, every row goes and the oldest pending records are never indexed.
   * One transaction: what is counted is what is deleted, whatever the indexer does.
   */
  enforceRecordLimit(): number {
    if (this.retention.maxRecords <= 0) return 0;
    if (this.#keptCount() <= this.retention.maxRecords) return 0;
    const removed = this.#writeTransaction(() => {
      const rows = this.#rowCount(), pending = this.pendingCount();
      const excess = rows + pending - this.retention.maxRecords;
      if (excess <= 0) return 0;
      if (excess <= rows) {
        // The newest `excess`-th from the bottom: an offset into the few oldest, not into the
        // `maxRecords` newest.
        const cut = this.db.prepare("SELECT id FROM records ORDER BY id LIMIT 1 OFFSET ?")
          .get(excess - 1) as { id: number };
        return this.#dropIn("id <= ?", cut.id, cut.id);
      }
      const dropped = rows > 0 ? this.#dropIn("id <= ?", this.#meta("indexed_to")) : 0;
      const skip = Math.min(excess - dropped, pending);
      const indexed = this.#meta("indexed_to");
      this.#setMeta.run(indexed + skip, "indexed_to");
      this.#chunks.dropBelow(indexed + skip + 1);
      return dropped + skip;
    });
    this.#kept = null;
    return removed;
  }

  /** Runs `write` in a transaction of the writer's (`WriterGate.asWriter`), committed if it returns. */
  #writeTransaction<T>(write: () => T): T {
    return this.#gate.asWriter(() => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const result = write();
        this.db.exec("COMMIT");
        return result;
      } catch (e) {
        this.db.exec("ROLLBACK");
        throw e;
      }
    });
  }

  /** Records kept, counted once and then kept up to date by this connection's writes. */
  #keptCount(): number {
    return this.#kept ??= this.count();
  }

  /**
   * Deletes the records `where` selects, from the index and the rollups too, inside the
   * caller's transaction; how many. `upTo`: the highest id `where` can select, when known
   * (the rollups then need to hold only the records up to it, which the oldest have long
   * been; else they first take in all, as of now).
   */
  #dropIn(where: string, value: number, upTo = this.#lastId()): number {
    this.db.prepare(
      `DELETE FROM records_fts WHERE rowid IN (SELECT id FROM records WHERE ${where})`,
    ).run(value);
    // The rollups first take in every record to delete, so they lose exactly what is deleted.
    catchUpRollups(this.db, upTo, 0);
    applyToRollups(this.db, where, [value], -1);
    const removed = Number(
      this.db.prepare(`DELETE FROM records WHERE ${where}`).run(value).changes,
    );
    this.#chunks.dropBelow(this.#firstId());
    return removed;
  }

  /** The first id from which every record's bodies are in the word index. */
  #bodiesIndexedFrom(): number {
    const row = this.db.prepare(
      "SELECT value FROM store_meta WHERE key = 'bodies_indexed_from'",
    ).get() as { value: number } | undefined;
    return row?.value ?? 1;
  }

  /** The oldest record's id: its row's, else the first pending one's. */
  #firstId(): number {
    return (this.db.prepare("SELECT MIN(id) AS id FROM records").get() as { id: number | null })
      .id ?? this.#meta("indexed_to") + 1;
  }

  #lastId(): number {
    return (this.db.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM records").get() as {
      id: number;
    }).id;
  }

  /** Records kept: rows and pending ones. */
  count(): number {
    return this.#rowCount() + this.pendingCount();
  }

  #rowCount(): number {
    return Number((this.db.prepare("SELECT COUNT(*) AS n FROM records").get() as { n: number }).n);
  }

  close(): void {
    this.#listeners.clear();
    this.db.close();
  }
}
