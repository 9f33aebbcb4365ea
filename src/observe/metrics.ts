/**
 * Prometheus metrics under kube-proxy's names (so existing dashboards and alerts keep working),
 * plus kipvs's own counts of kernel writes per sync. Built on `prom-client`; its default process
 * metrics are not registered because they read /proc, which Deno refuses without --allow-all, so
 * the resident set size comes from Deno.memoryUsage() instead.
 *
 * @module
 */

import { WRITE_KINDS } from "../reconcile/reconciler.ts";
import type * as promClient from "prom-client";
// The four classes kipvs uses, from their own files: prom-client's index also loads its push
// gateway (node:http, node:net, node:dns), its summaries and its default metrics, which took ~3
// s of a cold start in the test VM.
import Registry from "prom-client/lib/registry.js";
import Counter from "prom-client/lib/counter.js";
import Gauge from "prom-client/lib/gauge.js";
import Histogram from "prom-client/lib/histogram.js";
import type { SourceHealth } from "../source/source.ts";
import { VERSION } from "../version.ts";

/** prom-client's classes as its index types them. */
const client = { Registry, Counter, Gauge, Histogram } as unknown as Pick<
  typeof promClient,
  "Registry" | "Counter" | "Gauge" | "Histogram"
>;

const range = (start: number, step: number, count: number) =>
  Array.from({ length: count }, (_, i) => +(start + i * step).toFixed(6));

/**
 * kube-proxy's network programming buckets (0.25 s .. 5 min), preceded by buckets that resolve
 * single milliseconds up to 10 ms, then 15, 20, 25, 30, 40, 50, 75, 100, 150 and 200 ms: an
 * incremental sync takes a few milliseconds, and a change programmed in 3 ms must be told
 * apart from one programmed in 4.
 */
export const PROGRAMMING_BUCKETS = [
  ...range(0.001, 0.001, 10),
  0.015,
  0.02,
  0.025,
  0.03,
  0.04,
  0.05,
  0.075,
  0.1,
  0.15,
  0.2,
  ...range(0.25, 0.25, 2),
  ...range(1, 1, 59),
  ...range(60, 5, 12),
  ...range(120, 30, 7),
];

/** Operations per sync: 0, then 1 doubling to about a million (a cold start at 10,000 services). */
export const OPERATION_BUCKETS = [0, ...range(0, 0, 21).map((_, i) => 2 ** i)];

/** kube-proxy's sync duration buckets: 1 ms doubling to about 16 s. */
export const SYNC_BUCKETS = range(0, 0, 15).map((_, i) => +(0.001 * 2 ** i).toFixed(6));

/** What one sync did to the kernel, reported by the reconciler. */
export interface SyncWrites {
  /** Netlink messages sent (IPVS and kube-ipvs0; reads included). */
  netlinkOps: number;
  /** IPVS operations applied. */
  ipvsOps: number;
  ipsetRestores: number;
  ipsetEntries: number;
  iptablesRestores: number;
  /** Programs run (ipset, iptables-save and -restore, conntrack). */
  processes: number;
}

/** kube-proxy's metrics and kipvs's own, by field of {@link ProxyMetrics}. */
const METRICS = {
  syncDuration: {
    name: "kubeproxy_sync_proxy_rules_duration_seconds",
    help: "SyncProxyRules latency in seconds",
    buckets: SYNC_BUCKETS,
  },
  fullSyncDuration: {
    name: "kubeproxy_sync_full_proxy_rules_duration_seconds",
    help: "SyncProxyRules latency in seconds for full resyncs",
    buckets: SYNC_BUCKETS,
  },
  partialSyncDuration: {
    name: "kubeproxy_sync_partial_proxy_rules_duration_seconds",
    help: "SyncProxyRules latency in seconds for partial resyncs",
    buckets: SYNC_BUCKETS,
  },
  lastSyncTimestamp: {
    name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
    help: "The last time proxy rules were successfully synced",
  },
  lastQueuedTimestamp: {
    name: "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
    help: "The last time a sync of proxy rules was queued",
  },
  networkProgrammingDuration: {
    name: "kubeproxy_network_programming_duration_seconds",
    help: "In Cluster Network Programming Latency in seconds",
    buckets: PROGRAMMING_BUCKETS,
  },
  endpointChanges: {
    name: "kubeproxy_sync_proxy_rules_endpoint_changes_total",
    help: "Cumulative proxy rules Endpoint changes",
  },
  endpointChangesPending: {
    name: "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
    help: "Pending proxy rules Endpoint changes",
  },
  serviceChanges: {
    name: "kubeproxy_sync_proxy_rules_service_changes_total",
    help: "Cumulative proxy rules Service changes",
  },
  serviceChangesPending: {
    name: "kubeproxy_sync_proxy_rules_service_changes_pending",
    help: "Pending proxy rules Service changes",
  },
  iptablesRestoreFailures: {
    name: "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
    help: "Cumulative proxy iptables restore failures",
  },
  noLocalEndpoints: {
    name: "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
    help: "Number of services with a Local traffic policy and no endpoints",
    labelNames: ["traffic_policy"],
  },
  serviceConflicts: {
    name: "kipvs_service_conflicts",
    help: "Virtual servers (address, port and protocol; a node port counts once) that more " +
      "than one Service wants; the oldest Service has each",
  },
  driftRepairs: {
    name: "kipvs_drift_repairs_total",
    help: "Objects someone else changed that a sync put back (drift), by kind (ipvs, " +
      "realserver, address, link, ipset, rule)",
    labelNames: ["kind"],
  },
  syncFailures: {
    name: "kipvs_sync_failures_total",
    help: "Syncs that did not complete (retried with backoff)",
  },
  lastSyncWrites: {
    name: "kipvs_sync_last_writes",
    help: "Kernel operations of the last sync, by kind (netlink_ops, ipvs_ops, " +
      "ipset_restores, ipset_entries, iptables_restores, processes)",
    labelNames: ["kind"],
  },
  writes: {
    name: "kipvs_writes_total",
    help: "Kernel operations since start, by kind (netlink_ops, ipvs_ops, ipset_restores, " +
      "ipset_entries, iptables_restores, processes)",
    labelNames: ["kind"],
  },
  syncOps: {
    name: "kipvs_sync_operations",
    help: "Kernel operations per sync, by kind (netlink_ops, ipset_entries, processes) and " +
      "mode (full, partial)",
    labelNames: ["kind", "mode"],
    buckets: OPERATION_BUCKETS,
  },
} satisfies Record<string, MetricDefinition>;

/** A metric's name, help, labels and (histograms) buckets. */
interface MetricDefinition {
  name: string;
  help: string;
  labelNames?: readonly string[];
  buckets?: number[];
}

/** Options of {@link ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /**
   * The source's health (`ClusterSource.health`): exported as `kipvs_source_synced` and
   * `kipvs_source_last_contact_timestamp_seconds` (alert on `time() - ...` to see an API server
   * that kipvs has not heard from; the dataplane meanwhile stays as it was).
   */
  source?: () => SourceHealth;
}

/** `kipvs_source_synced` and `kipvs_source_last_contact_timestamp_seconds`, read on scrape. */
function sourceGauges(source: () => SourceHealth, registers: promClient.Registry[]): void {
  new client.Gauge({
    name: "kipvs_source_synced",
    help: "1 once the source's initial state was read whole (lists complete), else 0",
    registers,
    collect() {
      this.set(source().synced ? 1 : 0);
    },
  });
  new client.Gauge({
    name: "kipvs_source_last_contact_timestamp_seconds",
    help: "When the source last heard from the API server (or read its files); now while " +
      "a watch is open",
    registers,
    collect() {
      this.set(source().lastContact / 1000);
    },
  });
}

/** All metrics of a running proxy, in their own registry. */
export class ProxyMetrics {
  readonly registry = new client.Registry();
  readonly syncDuration: promClient.Histogram;
  readonly fullSyncDuration: promClient.Histogram;
  readonly partialSyncDuration: promClient.Histogram;
  readonly lastSyncTimestamp: promClient.Gauge;
  readonly lastQueuedTimestamp: promClient.Gauge;
  readonly networkProgrammingDuration: promClient.Histogram;
  readonly endpointChanges: promClient.Counter;
  readonly endpointChangesPending: promClient.Gauge;
  readonly serviceChanges: promClient.Counter;
  readonly serviceChangesPending: promClient.Gauge;
  readonly iptablesRestoreFailures: promClient.Counter;
  readonly noLocalEndpoints: promClient.Gauge<"traffic_policy">;
  readonly syncFailures: promClient.Counter;
  readonly driftRepairs: promClient.Counter<"kind">;
  readonly serviceConflicts: promClient.Gauge;
  readonly lastSyncWrites: promClient.Gauge<"kind">;
  readonly writes: promClient.Counter<"kind">;
  readonly syncOps: promClient.Histogram<"kind" | "mode">;

  constructor(options: ProxyMetricsOptions = {}) {
    const registers = [this.registry];
    const histogram = <L extends string>(d: MetricDefinition) =>
      new client.Histogram<L>({ ...d, labelNames: (d.labelNames ?? []) as L[], registers });
    const gauge = <L extends string>(d: MetricDefinition) =>
      new client.Gauge<L>({ ...d, labelNames: (d.labelNames ?? []) as L[], registers });
    const counter = <L extends string>(d: MetricDefinition) =>
      new client.Counter<L>({ ...d, labelNames: (d.labelNames ?? []) as L[], registers });
    this.syncDuration = histogram(METRICS.syncDuration);
    this.fullSyncDuration = histogram(METRICS.fullSyncDuration);
    this.partialSyncDuration = histogram(METRICS.partialSyncDuration);
    this.lastSyncTimestamp = gauge(METRICS.lastSyncTimestamp);
    this.lastQueuedTimestamp = gauge(METRICS.lastQueuedTimestamp);
    this.networkProgrammingDuration = histogram(METRICS.networkProgrammingDuration);
    this.endpointChanges = counter(METRICS.endpointChanges);
    this.endpointChangesPending = gauge(METRICS.endpointChangesPending);
    this.serviceChanges = counter(METRICS.serviceChanges);
    this.serviceChangesPending = gauge(METRICS.serviceChangesPending);
    this.iptablesRestoreFailures = counter(METRICS.iptablesRestoreFailures);
    this.noLocalEndpoints = gauge(METRICS.noLocalEndpoints);
    this.syncFailures = counter(METRICS.syncFailures);
    this.driftRepairs = counter(METRICS.driftRepairs);
    for (const kind of WRITE_KINDS) this.driftRepairs.inc({ kind }, 0);
    this.serviceConflicts = gauge(METRICS.serviceConflicts);
    this.lastSyncWrites = gauge(METRICS.lastSyncWrites);
    this.writes = counter(METRICS.writes);
    this.syncOps = histogram(METRICS.syncOps);
    new client.Gauge({
      name: "kipvs_build_info",
      help: "kipvs version and Deno runtime",
      labelNames: ["version", "deno"],
      registers,
    }).set({ version: VERSION, deno: Deno.version.deno }, 1);
    if (options.source) sourceGauges(options.source, registers);
    new client.Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes",
      registers,
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
  }

  /** Records what a sync did; `full` tells a full sync from a partial one. */
  recordWrites(w: SyncWrites, full = false): void {
    const kinds: [string, number][] = [
      ["netlink_ops", w.netlinkOps],
      ["ipvs_ops", w.ipvsOps],
      ["ipset_restores", w.ipsetRestores],
      ["ipset_entries", w.ipsetEntries],
      ["iptables_restores", w.iptablesRestores],
      ["processes", w.processes],
    ];
    for (const [kind, n] of kinds) {
      this.lastSyncWrites.set({ kind }, n);
      this.writes.inc({ kind }, n);
    }
    const mode = full ? "full" : "partial";
    this.syncOps.observe({ kind: "netlink_ops", mode }, w.netlinkOps);
    this.syncOps.observe({ kind: "ipset_entries", mode }, w.ipsetEntries);
    this.syncOps.observe({ kind: "processes", mode }, w.processes);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of {@link ProxyMetrics.text}. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
