import type { Recorder } from "../recorder/recorder.ts";
import type { Service } from "../service/service.ts";
import { captureBudget } from "../record/capture_budget.ts";

/**
 * Prometheus text format (version 0.0.4) of what the services and recorders count.
 * Label values are escaped as the format requires.
 */
const label = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export function renderMetrics(services: Service[], recorders: Map<string, Recorder>): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string, rows: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of rows) out.push(`${name}${labels} ${value}`);
  };
  const svc = (s: Service, extra = "") => `{service="${label(s.config.name)}"${extra}}`;
  family(
    "snoop_connections_total",
    "counter",
    "Connections (or datagrams) accepted.",
    services.map((s) => [svc(s), s.connections]),
  );
  family(
    "snoop_connections_active",
    "gauge",
    "Connections being served.",
    services.map((s) => [svc(s), s.active]),
  );
  family(
    "snoop_records_total",
    "counter",
    "Records reported (requests, connections, queries).",
    services.map((s) => [svc(s), s.sink.counters.records]),
  );
  family(
    "snoop_record_errors_total",
    "counter",
    "Records that carry an err.",
    services.map((s) => [svc(s), s.sink.counters.errors]),
  );
  family(
    "snoop_bytes_in_total",
    "counter",
    "Bytes read from clients, per recorded request or connection.",
    services.map((s) => [svc(s), s.sink.counters.inputBytes]),
  );
  family(
    "snoop_bytes_out_total",
    "counter",
    "Bytes written to clients, per recorded request or connection.",
    services.map((s) => [svc(s), s.sink.counters.outputBytes]),
  );
  family(
    "snoop_handler_failures_total",
    "counter",
    "Connections that ended in an unexpected exception (a bug worth reporting).",
    services.map((s) => [svc(s), s.handlerFailures]),
  );
  family(
    "snoop_limit_hits_total",
    "counter",
    "Connections or requests refused or cut by a limit (caps, sizes, deadlines, egress list).",
    services.flatMap((s) =>
      [...s.sink.counters.limits].map(([l, n]) =>
        [svc(s, `,limit="${label(l)}"`), n] as [string, number]
      )
    ),
  );
  family(
    "snoop_auth_failures_total",
    "counter",
    "Requests or handshakes with wrong proxy credentials.",
    services.filter((s) => s.auth).map((s) => [svc(s), s.auth!.failures]),
  );
  family(
    "snoop_sniffed_total",
    "counter",
    "Records by sniffed protocol.",
    services.flatMap((s) =>
      [...s.sink.counters.byProto].map(([p, n]) =>
        [svc(s, `,proto="${label(p || "none")}"`), n] as [string, number]
      )
    ),
  );
  family(
    "snoop_mitm_certificates_issued_total",
    "counter",
    "Leaf certificates issued for interception.",
    services.filter((s) => s.mitm).map((s) => [svc(s), s.mitm!.issuer.issued]),
  );
  family(
    "snoop_capture_budget_bytes",
    "gauge",
    "Captured body bytes the process may hold at once (limits.captureBudget).",
    [["", captureBudget.limit]],
  );
  family(
    "snoop_capture_budget_used_bytes",
    "gauge",
    "Captured body bytes held now, in captures and in recorder queues.",
    [["", captureBudget.used]],
  );
  const rec = [...recorders.values()];
  const r = (x: Recorder, extra = "") => `{recorder="${label(x.name)}",kind="${x.kind}"${extra}}`;
  family(
    "snoop_recorder_queue_depth",
    "gauge",
    "Records waiting in a recorder's queue.",
    rec.map((x) => [r(x), x.stats().queued]),
  );
  family(
    "snoop_recorder_written_total",
    "counter",
    "Records a recorder delivered.",
    rec.map((x) => [r(x), x.stats().written]),
  );
  family(
    "snoop_recorder_dropped_total",
    "counter",
    "Records a recorder dropped, by reason.",
    rec.flatMap((x) =>
      Object.entries(x.stats().dropped).map(([why, n]) =>
        [r(x, `,reason="${label(why)}"`), n] as [string, number]
      )
    ),
  );
  family(
    "snoop_store_pending_records",
    "gauge",
    "Records a store holds and has not indexed yet (indexing waits for idle CPU).",
    rec.flatMap((x) => "pendingRecords" in x ? [[r(x), (x as Pending).pendingRecords()]] : []),
  );
  return out.join("\n") + "\n";
}

/** A recorder whose store indexes records after storing them (`StoreRecorder`). */
interface Pending {
  pendingRecords(): number;
}
