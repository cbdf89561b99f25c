/**
 * Deadlines for the hot path. In Deno 2.9 the global `setTimeout` builds a node `Timeout`
 * object: about 1.5 µs to set and clear, and with two deadlines per proxied request (the
 * next request head, the upstream's answer) ~6% of a CPU profile of `bench compare` (a).
 *
 * Deadlines of one duration expire in the order they were set, so each duration keeps a
 * FIFO lane; a single timer is armed for the earliest deadline of all. Setting one is a
 * push, cancelling it a store. Cancelled entries leave a lane when they reach its head, or
 * when they make up most of it (so an idle connection waiting a minute does not keep a
 * minute of other requests' cancelled deadlines), and the timer is cleared when no deadline
 * is live, so nothing keeps the process (or a test) alive.
 */

/** A deadline that can be cancelled; `cancel` after it fired does nothing. */
export interface Deadline {
  cancel(): void;
}

interface Entry extends Deadline {
  at: number;
  fire: (() => void) | null;
  lane: Lane;
}

interface Lane {
  entries: Entry[];
  head: number;
  live: number;
}

/** A lane is compacted once it holds this many more entries than twice its live ones. */
const COMPACT_SLACK = 1024;

const lanes = new Map<number, Lane>();
let live = 0;
let timer: ReturnType<typeof setTimeout> | undefined;
let timerAt = Infinity;

function cancel(this: Entry) {
  if (this.fire === null) return;
  this.fire = null;
  live--;
  const lane = this.lane;
  lane.live--;
  if (live === 0) {
    clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
    for (const l of lanes.values()) {
      l.entries = [];
      l.head = 0;
    }
  } else if (lane.entries.length - lane.head > 2 * lane.live + COMPACT_SLACK) {
    lane.entries = lane.entries.slice(lane.head).filter((e) => e.fire !== null);
    lane.head = 0;
  }
}

/**
 * Calls `fire` in `ms` milliseconds unless cancelled first. For a few fixed durations (each
 * has its lane for good); a wait that varies belongs on setTimeout.
 */
export function deadline(ms: number, fire: () => void): Deadline {
  let lane = lanes.get(ms);
  if (!lane) lanes.set(ms, lane = { entries: [], head: 0, live: 0 });
  const at = Date.now() + ms;
  const entry: Entry = { at, fire, lane, cancel };
  lane.entries.push(entry);
  lane.live++;
  live++;
  if (at < timerAt) arm(at);
  return entry;
}

function arm(at: number) {
  clearTimeout(timer);
  timerAt = at;
  timer = setTimeout(expire, Math.max(0, at - Date.now()));
}

function expire() {
  timer = undefined;
  timerAt = Infinity;
  const now = Date.now();
  // Collected first and called last: a callback may set or cancel deadlines.
  const due: (() => void)[] = [];
  let next = Infinity;
  for (const lane of lanes.values()) {
    const { entries } = lane;
    while (lane.head < entries.length) {
      const e = entries[lane.head];
      if (e.fire !== null && e.at > now) break;
      lane.head++;
      if (e.fire) {
        due.push(e.fire);
        e.fire = null;
        lane.live--;
        live--;
      }
    }
    if (lane.head === entries.length) {
      lane.entries = [];
      lane.head = 0;
    } else next = Math.min(next, entries[lane.head].at);
  }
  if (next < Infinity) arm(next);
  for (const fire of due) {
    try {
      fire();
    } catch (e) {
      // As from a timer of its own: uncaught, but the other callbacks still run.
      queueMicrotask(() => {
        throw e;
      });
    }
  }
}
