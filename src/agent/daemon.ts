/**
 * `kipvs run` as a node agent: collects source changes, lets the {@link SyncRunner} decide when
 * to sync, runs the {@link Proxier}, checks draining real servers, and keeps health and metrics
 * current. Everything here is about time and bookkeeping; the kernel work is the proxier's.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { ProxyMetrics } from "../observe/metrics.ts";
import type { ProxyHealth } from "../observe/proxyhealth.ts";
import type { ServiceHealthServers } from "../observe/servicehealth.ts";
import type { ClusterSource, ClusterState, SourceChange } from "../source/source.ts";
import type { NodeInfo, ProxyConfig } from "../config/config.ts";
import { nodeLeavingReason } from "../k8s/node.ts";
import { nodeInfo } from "../plan/nodeinfo.ts";
import type { InterfaceAddress } from "../plan/nodeports.ts";
import type { HealthCheckSpec } from "../plan/desired.ts";
import type { Proxier, SyncReport } from "../reconcile/proxier.ts";
import { DriftTracker } from "../reconcile/drift.ts";
import { type Clock, systemClock } from "../clock.ts";
import { type SyncRequest, SyncRunner } from "./runner.ts";

/** Options of {@link Daemon}. */
export interface DaemonOptions {
  config: ProxyConfig;
  source: ClusterSource;
  proxier: Proxier;
  logger: Logger;
  metrics?: ProxyMetrics;
  /** Where sync progress and node eligibility go (a `ProxyHealth`, or the probe thread). */
  health?:
    & Pick<ProxyHealth, "queued" | "updated" | "setNodeEligible">
    & Partial<Pick<ProxyHealth, "setDrift">>;
  /** Where the health check node ports go (`ServiceHealthServers`, or the probe thread). */
  serviceHealth?: Pick<ServiceHealthServers, "sync">;
  /**
   * The node's addresses, read for every full sync (default `Deno.networkInterfaces`; `kipvs
   * run` reads them over netlink, without kube-ipvs0's: see `DummyLink.nodeAddresses`).
   */
  interfaces?: () => readonly InterfaceAddress[] | Promise<readonly InterfaceAddress[]>;
  clock?: Clock;
  /**
   * Names who else writes the dataplane (writers.ts), asked when the same objects drift in two
   * syncs or more in a row.
   */
  otherWriters?: () => Promise<string | undefined>;
}

/** Changes seen since the last sync started. */
interface Pending {
  services: Set<string>;
  all: boolean;
  serviceChanges: number;
  endpointChanges: number;
  /** When the oldest of them was seen (ms since epoch). */
  since: number | undefined;
}

/** Every this many periodic resyncs plans every service from scratch (~5 minutes at 30 s). */
export const REPLAN_EVERY = 10;

const emptyPending = (): Pending => ({
  services: new Set(),
  all: false,
  serviceChanges: 0,
  endpointChanges: 0,
  since: undefined,
});

/** The long-running proxy. */
export class Daemon {
  #o: DaemonOptions;
  #runner: SyncRunner;
  #pending = emptyPending();
  /** Full syncs that could keep the last plan, counted for {@link REPLAN_EVERY}. */
  #resyncs = 0;
  #clock: Clock;
  #gracefulTimer: unknown;
  #lastReport: SyncReport | undefined;
  #nodeInfo: NodeInfo | undefined;
  #leaving: string | undefined;
  #drift = new DriftTracker();
  /** The health checks last given to `serviceHealth`. */
  #sentChecks: readonly HealthCheckSpec[] | undefined;

  constructor(options: DaemonOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#runner = new SyncRunner({
      minIntervalMs: options.config.minSyncPeriodMs,
      maxIntervalMs: options.config.syncPeriodMs,
      sync: (req) => this.#sync(req),
      clock: this.#clock,
    });
    options.source.onChange((c) => this.#onChange(c));
  }

  /** Drift repaired since the start (counts by kind) and the last drift. */
  get drift(): DriftTracker {
    return this.#drift;
  }

  /** The report of the last successful sync. */
  get lastReport(): SyncReport | undefined {
    return this.#lastReport;
  }

  /** Starts syncing (the source must have completed its initial read). */
  start(): void {
    this.#pending.all = true;
    this.#o.health?.queued(this.#clock.now());
    this.#runner.start();
    this.#scheduleGraceful();
  }

  /** Stops syncing and waits for a sync in progress; the dataplane stays as it is. */
  async stop(): Promise<void> {
    this.#clock.clearTimeout(this.#gracefulTimer);
    this.#gracefulTimer = undefined;
    await this.#runner.stop();
  }

  #onChange(c: SourceChange): void {
    const p = this.#pending;
    for (const s of c.services) p.services.add(s);
    p.all ||= c.all || c.node;
    p.serviceChanges += c.serviceChanges;
    p.endpointChanges += c.endpointChanges;
    p.since = Math.min(p.since ?? c.seenAt, c.seenAt);
    const m = this.#o.metrics;
    m?.serviceChanges.inc(c.serviceChanges);
    m?.endpointChanges.inc(c.endpointChanges);
    m?.serviceChangesPending.set(p.serviceChanges);
    m?.endpointChangesPending.set(p.endpointChanges);
    m?.lastQueuedTimestamp.set(this.#clock.now() / 1000);
    this.#o.health?.queued(this.#clock.now());
    this.#runner.request({ full: c.all || c.node });
  }

  /**
   * The node as the plan sees it, and whether it may receive traffic. The interfaces' addresses
   * are read for full syncs only: the list holds every address of kube-ipvs0 (one per service
   * IP, ~60 ms for 10,000 in the test VM), which an incremental sync must not pay for. A new
   * node address is seen by the next full sync, as it would be with no service changing.
   */
  async #node(state: ClusterState, full: boolean): Promise<NodeInfo> {
    const n = state.node;
    const leaving = nodeLeavingReason(n);
    if (leaving !== this.#leaving) {
      if (leaving) {
        this.#o.logger.warn("node not eligible for traffic: healthz answers 503", {
          reason: leaving,
        });
      } else if (this.#leaving) this.#o.logger.info("node eligible for traffic again");
      this.#leaving = leaving;
    }
    this.#o.health?.setNodeEligible(leaving === undefined);
    if (full || !this.#nodeInfo) {
      this.#nodeInfo = nodeInfo({
        config: this.#o.config,
        node: n,
        interfaces: await (this.#o.interfaces ?? Deno.networkInterfaces)(),
      });
    }
    return this.#nodeInfo;
  }

  async #sync(req: SyncRequest): Promise<void> {
    const pending = this.#pending;
    this.#pending = emptyPending();
    const m = this.#o.metrics;
    m?.serviceChangesPending.set(0);
    m?.endpointChangesPending.set(0);
    const state = this.#o.source.snapshot();
    const full = req.full || pending.all;
    try {
      const report = await this.#o.proxier.sync({
        state,
        node: await this.#node(state, full),
        services: pending.services,
        full,
        allChanged: pending.all,
        reusePlan: this.#reusePlan(req, pending),
      });
      this.#lastReport = report;
      const now = this.#clock.now();
      // Network programming latency: from the source seeing the oldest change to programmed.
      const latencyMs = pending.since === undefined ? undefined : Math.max(0, now - pending.since);
      this.#o.health?.updated(now);
      this.#recordMetrics(report, now, latencyMs);
      await this.#syncHealthChecks(full);
      const { drift, ...logged } = report;
      this.#o.logger.info("synced", {
        ...logged,
        ms: +report.ms.toFixed(1),
        ...(drift.length > 0 ? { drift: drift.length } : {}),
        ...(latencyMs === undefined ? {} : { latencyMs }),
      });
      await this.#reportDrift(report, now);
    } catch (err) {
      // Keep what was pending for the retry (a full sync) and the latency metric.
      for (const s of pending.services) this.#pending.services.add(s);
      this.#pending.all ||= pending.all;
      if (pending.since !== undefined) {
        this.#pending.since = Math.min(this.#pending.since ?? pending.since, pending.since);
      }
      m?.syncFailures.inc();
      this.#o.logger.error("sync failed; retrying with backoff", { err });
      throw err;
    }
  }

  /**
   * Whether a full sync keeps the last plan of the services that did not change: a periodic
   * resync re-reads the kernel, and a plan of every service (14 s of 39 s at 50,000 in the test
   * VM) would only make the same plan again. A relist or a new node, a retry after a failure, and
   * every {@link REPLAN_EVERY}th resync (a bound on how long a mistake in an incremental plan
   * could last) plan every service from scratch.
   */
  #reusePlan(req: SyncRequest, pending: Pending): boolean {
    if (!req.full || req.retry > 0 || pending.all) return false;
    return ++this.#resyncs % REPLAN_EVERY !== 0;
  }

  /**
   * Gives the health checks to `serviceHealth` when they changed, and after every full sync. The
   * plan builds a new list only when one changed (or a full sync made a new plan), so an
   * incremental sync that touched none sends nothing: at 50,000 services the list holds 1,250,
   * copied to the probe thread and compared there, sync after sync. A port that could not be
   * listened on is retried by the next full sync, which sends the list even when it kept the plan.
   */
  async #syncHealthChecks(full: boolean): Promise<void> {
    const checks = this.#o.proxier.desired?.healthChecks ?? [];
    if (checks === this.#sentChecks && !full) return;
    await this.#o.serviceHealth?.sync(checks);
    this.#sentChecks = checks;
  }

  #recordMetrics(report: SyncReport, now: number, latencyMs: number | undefined): void {
    const m = this.#o.metrics;
    if (!m) return;
    const s = report.ms / 1000;
    m.syncDuration.observe(s);
    (report.full ? m.fullSyncDuration : m.partialSyncDuration).observe(s);
    m.lastSyncTimestamp.set(now / 1000);
    if (latencyMs !== undefined) m.networkProgrammingDuration.observe(latencyMs / 1000);
    const d = this.#o.proxier.desired;
    m.noLocalEndpoints.set({ traffic_policy: "internal" }, d?.noLocalEndpoints.internal ?? 0);
    m.noLocalEndpoints.set({ traffic_policy: "external" }, d?.noLocalEndpoints.external ?? 0);
    m.serviceConflicts.set(this.#o.proxier.conflicts);
    m.recordWrites({
      netlinkOps: report.netlinkMessages,
      ipvsOps: report.ipvsOps,
      ipsetRestores: report.ipsetRestores,
      ipsetEntries: report.ipsetEntries,
      iptablesRestores: report.iptablesRestores,
      processes: report.processes,
    }, report.full);
  }

  /**
   * One warning per sync that repaired drift, naming what was repaired; the metric by kind; the
   * last drift on `/healthz`. Drift of the same objects sync after sync says so, and names
   * kube-proxy when it is seen on the node.
   */
  async #reportDrift(report: SyncReport, now: number): Promise<void> {
    const event = this.#drift.record(report.drift, { at: now, full: report.full });
    if (!event) return;
    for (const [kind, n] of Object.entries(event.repairs)) {
      this.#o.metrics?.driftRepairs.inc({ kind }, n);
    }
    const again = event.syncsInARow > 1;
    if (again) this.#drift.setWriter(await this.#o.otherWriters?.());
    this.#o.health?.setDrift?.({ repairs: this.#drift.totals, last: event });
    const fields = {
      repaired: event.objects.join("; "),
      kinds: Object.entries(event.repairs).map(([k, n]) => `${k}=${n}`).join(" "),
      ...(again ? { syncsInARow: event.syncsInARow } : {}),
      ...(event.writer ? { writer: event.writer } : {}),
    };
    this.#o.logger.warn(
      again
        ? `drift repaired again, ${event.syncsInARow} syncs in a row: another writer?`
        : "drift repaired: someone else changed what kipvs programs",
      fields,
    );
  }

  #scheduleGraceful(): void {
    this.#gracefulTimer = this.#clock.setTimeout(async () => {
      try {
        if (this.#o.proxier.drainingCount > 0) {
          const n = await this.#o.proxier.checkDraining();
          if (n > 0) this.#o.logger.info("deleted drained real servers", { count: n });
        }
      } catch (err) {
        this.#o.logger.warn("graceful termination check failed", { err });
      }
      if (this.#gracefulTimer !== undefined) this.#scheduleGraceful();
    }, this.#o.config.gracefulTerminationCheckPeriodMs);
  }
}
