/**
 * Records a store file keeps, rows and records not yet indexed, read on a connection of its
 * own: a store's `/api/stats` answers `partial` while more records wait to be indexed than
 * it may read.
 */
import { DatabaseSync } from "node:sqlite";

export function storeRecordCount(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true, timeout: 5000 });
  try {
    const one = (sql: string) => Number(Object.values(db.prepare(sql).get()!)[0]);
    return one("SELECT COUNT(*) FROM records") +
      Math.max(
        0,
        one("SELECT value FROM store_meta WHERE key = 'appended_to'") -
          one("SELECT value FROM store_meta WHERE key = 'indexed_to'"),
      );
  } finally {
    db.close();
  }
}
