/**
 * Filter conditions (`filter_conditions.ts`) as a SQL boolean expression for SQLite or
 * PostgreSQL. Values are always bound parameters (`?` here; `buildWhere` numbers them for
 * PostgreSQL); column names come from a fixed list, never from the expression.
 *
 * A `js` condition has no SQL form. Where it sits under an even number of `!` the SQL uses
 * its `pre` (a superset, or TRUE); under an odd number, FALSE, so that the negation around it
 * is again a superset. The SQL then selects candidates and the predicate decides.
 */
import { asciiLower, type Cond, NULLABLE } from "./filter_conditions.ts";

export type Dialect = "sqlite" | "postgres";

/**
 * Which records a body's word-index condition is asked about (`record_store.ts` scans the two
 * ranges one after the other): `indexed`, only records whose bodies the index holds (the
 * index answers); `unindexed`, only older ones (every record a candidate); `mixed`, both (the
 * index, or an id below the mark).
 */
export type BodyRange = "indexed" | "unindexed" | "mixed";

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

export function condToSql(
  c: Cond,
  dialect: Dialect,
  params: (string | number)[],
  positive = true,
  bodies: BodyRange = "mixed",
): string {
  const col = (name: string) => name;
  switch (c.k) {
    case "true":
      return "1 = 1";
    case "and":
    case "or": {
      const parts = c.items.map((i) => condToSql(i, dialect, params, positive, bodies));
      return `(${parts.join(c.k === "and" ? " AND " : " OR ")})`;
    }
    case "not":
      return `(NOT ${condToSql(c.item, dialect, params, !positive, bodies)})`;
    case "eq":
      params.push(c.v);
      // A NULL column compares to NULL, and NOT NULL is NULL: the IS NOT NULL keeps both
      // the test and its negation two-valued, as the predicate's.
      return NULLABLE.has(c.col)
        ? `(${col(c.col)} = ? AND ${col(c.col)} IS NOT NULL)`
        : `${col(c.col)} = ?`;
    case "ge":
    case "le":
      params.push(c.v);
      return `${col(c.col)} ${c.k === "ge" ? ">=" : "<="} ?`;
    case "notnull":
      return `${col(c.col)} IS NOT NULL`;
    case "like": {
      params.push(dialect === "postgres" ? asciiLower(c.pattern) : c.pattern);
      // SQLite's LIKE folds ASCII case only; PostgreSQL's is case-sensitive, so the column is
      // folded the same way (ILIKE would fold beyond ASCII).
      const subject = dialect === "sqlite"
        ? col(c.col)
        : `translate(${col(c.col)}, '${UPPER}', '${UPPER.toLowerCase()}')`;
      const test = `${subject} LIKE ? ESCAPE '\\'`;
      return NULLABLE.has(c.col) ? `(${test} AND ${col(c.col)} IS NOT NULL)` : test;
    }
    case "fts": {
      if (dialect !== "sqlite" || (c.bodies && bodies === "unindexed")) return "1 = 1";
      params.push(c.query);
      const indexed = "id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)";
      // Records stored before the index took bodies are candidates for any body term.
      return c.bodies && bodies === "mixed"
        ? `(id < (SELECT value FROM store_meta WHERE key = 'bodies_indexed_from') OR ${indexed})`
        : indexed;
    }
    case "js":
      if (!positive) return "1 = 0";
      return c.pre ? condToSql(c.pre, dialect, params, positive, bodies) : "1 = 1";
  }
}
