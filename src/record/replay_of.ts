import { createHash, timingSafeEqual } from "node:crypto";

/**
 * How a request that the web UI replays through snoop's own proxy is linked to the record it
 * replays: the UI's API adds `Snoop-Replay-Of: ID SECRET` (on the request itself for plain
 * HTTP, on the CONNECT for a tunnel), and the proxy takes the field out before anything is
 * forwarded or recorded, and sets the new record's `replayOf` to ID when SECRET is this
 * process's. The secret is random per process and never leaves it (the API connects to the
 * proxy on its own listener), so a client cannot make a record claim to be a replay.
 */
export const REPLAY_FIELD = "snoop-replay-of";

const SECRET = (() => {
  const b = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
})();

/** The field's value that marks a replay of record `id`. */
export function replayMark(id: number): string {
  return `${id} ${SECRET}`;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * Removes every `Snoop-Replay-Of` field from `fields` (in place: none is ever forwarded) and
 * returns the record id the first one names when it carries this process's secret.
 */
export function takeReplayOf(fields: [string, string][]): number | undefined {
  let found: number | undefined;
  for (let i = fields.length - 1; i >= 0; i--) {
    const [name, value] = fields[i];
    if (name.length !== REPLAY_FIELD.length || name.toLowerCase() !== REPLAY_FIELD) continue;
    fields.splice(i, 1);
    const m = /^(\d{1,15}) (\S+)$/.exec(value.trim());
    if (m && timingSafeEqual(digest(m[2]), digest(SECRET))) found = Number(m[1]);
  }
  return found;
}
