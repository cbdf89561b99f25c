/**
 * A record read back from its JSON text (from the store, a collector's peer, a file): the
 * shape of `HandlerRecord`, but nothing in it was checked when it was parsed, so any field
 * may be missing or of another type. Code that reads one treats every field as hostile.
 */
// deno-lint-ignore no-explicit-any
export type ParsedRecord = any;
