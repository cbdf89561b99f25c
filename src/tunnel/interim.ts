import type { RecordSink } from "../recorder/sink.ts";
import { interimRecord, withoutBodies } from "../sniff/interim_record.ts";
import type { TunnelRecord } from "../sniff/sniffer.ts";
import { type Deadline, deadline } from "../util/deadlines.ts";
import type { Tap } from "./relay.ts";

/**
 * Calls `report` every `intervalMs` until stopped (`sniffing.interval`): the records of a
 * tunnel or stream still open, so a long connection is visible before it ends. It rides the
 * shared deadline timer (one lane for the interval, whatever the number of tunnels), not a
 * timer per tunnel.
 */
export class InterimTimer {
  #next: Deadline | undefined;
  #stopped = false;

  constructor(readonly intervalMs: number, readonly report: () => void) {
    if (intervalMs > 0) this.#arm();
  }

  #arm() {
    this.#next = deadline(this.intervalMs, () => {
      if (this.#stopped) return;
      this.report();
      if (!this.#stopped) this.#arm();
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#next?.cancel();
  }
}

/**
 * Interim records of a tunnel nobody sniffs: its record with the bytes counted so far (the
 * relay's own totals come only at its end). The taps only count.
 */
export function countingInterim(
  sink: RecordSink,
  record: TunnelRecord,
  intervalMs: number,
): { onClientData: Tap; onServerData: Tap; stop(): void } {
  const seen = { client: 0, server: 0 };
  const timer = new InterimTimer(intervalMs, () => {
    const { inputBytes, outputBytes, startMs } = record;
    sink.emit(interimRecord(record, startMs, inputBytes + seen.client, outputBytes + seen.server));
  });
  return {
    onClientData: (chunk) => void (seen.client += chunk.length),
    onServerData: (chunk) => void (seen.server += chunk.length),
    stop: () => timer.stop(),
  };
}

/**
 * Interim records of a request the forward proxy is relaying (a long download, an event
 * stream): its record so far, without bodies. An upgraded connection (101) reports as the
 * tunnel it became instead.
 */
export function exchangeInterim(
  sink: RecordSink,
  rec: TunnelRecord,
  intervalMs: number,
): InterimTimer | undefined {
  if (!(intervalMs > 0) || !sink.recording) return undefined;
  return new InterimTimer(intervalMs, () => {
    if (rec.http?.statusCode === 101) return;
    sink.emit(interimRecord(withoutBodies(rec), rec.startMs, rec.inputBytes, rec.outputBytes));
  });
}
