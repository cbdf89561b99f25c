/**
 * Deadlines for the hot path. In Deno the global `setTimeout` builds a node `Timeout`
 * object, slow to set and clear, and with two deadlines per proxied request (the next
 * request head, the upstream's answer) it showed in CPU profiles under load.
 *
 * Deadlines of one duration expire in the order they were set, so each duration keeps a
 * FIFO lane, a doubly linked list; a single timer is armed for the earliest deadline of all.
 * Setting one appends to its lane, cancelling it unlinks it, and the timer is cleared when
 * no deadline is live, so nothing keeps the process (or a test) alive.
 *
 * Why a list: lanes used to be arrays in which a cancelled entry stayed until it reached the
 * head or the lane was compacted (at 1,024 dead entries more than twice the live ones), so
 * under load ~1,000 dead entries and their arrays were alive at each young-generation
 * collection, which copied them and promoted some. An unlinked entry is garbage at once,
 * and almost every deadline is cancelled within the request that set it. Under compare
 * (a)'s load with the http recorder (`--trace-gc-nvp`, 3 runs each), per 10,000 requests:
 * 4.3-4.7 → 3.6-3.8 MB survived scavenges, 0.58-0.65 → 0.30-0.31 MB promoted.
 */

/** A deadline that can be cancelled; `cancel` after it fired does nothing. */
export interface Deadline {
  cancel(): void;
}

interface Lane {
  /** The earliest entry (the next to expire), or null. */
  first: Entry | null;
  last: Entry | null;
}

const lanes = new Map<number, Lane>();
let live = 0;
let timer: ReturnType<typeof setTimeout> | undefined;
let timerAt = Infinity;

class Entry implements Deadline {
  prev: Entry | null = null;
  next: Entry | null = null;

  constructor(readonly at: number, public fire: (() => void) | null, readonly lane: Lane) {}

  cancel(): void {
    if (this.fire === null) return;
    this.fire = null;
    this.unlink();
    if (--live === 0) {
      clearTimeout(timer);
      timer = undefined;
      timerAt = Infinity;
    }
  }

  unlink(): void {
    const { lane, prev, next } = this;
    if (prev) prev.next = next;
    else lane.first = next;
    if (next) next.prev = prev;
    else lane.last = prev;
    this.prev = this.next = null;
  }
}

/**
 * Calls `fire` in `ms` milliseconds unless cancelled first. For a few fixed durations (each
 * has its lane for good); a wait that varies belongs on setTimeout.
 */
export function deadline(ms: number, fire: () => void): Deadline {
  let lane = lanes.get(ms);
  if (!lane) lanes.set(ms, lane = { first: null, last: null });
  const at = Date.now() + ms;
  const entry = new Entry(at, fire, lane);
  if (lane.last) {
    lane.last.next = entry;
    entry.prev = lane.last;
  } else lane.first = entry;
  lane.last = entry;
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
    let e = lane.first;
    while (e !== null && e.at <= now) {
      const after = e.next;
      due.push(e.fire!);
      e.fire = null;
      e.unlink();
      live--;
      e = after;
    }
    if (e !== null) next = Math.min(next, e.at);
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
