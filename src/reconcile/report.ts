/**
 * What one sync did: counts of kernel operations and programs, and where the time went. The
 * proxier fills it, the daemon logs it as the "synced" line and feeds the metrics with it.
 *
 * @module
 */

import type { Write } from "./write.ts";

/** What one sync did, for logs, metrics and tests. */
export interface SyncReport {
  full: boolean;
  /** Services replanned. */
  services: number;
  /** IPVS operations applied, by kind, and how many failed. */
  ipvsOps: number;
  ipvsFailed: number;
  /** Netlink messages sent (IPVS, kube-ipvs0, and ipsets when they go over netlink). */
  netlinkMessages: number;
  addressesAdded: number;
  addressesRemoved: number;
  ipsetRestores: number;
  ipsetEntries: number;
  iptablesRestores: number;
  /**
   * Programs run (ipset save and restore when ipsets do not go over netlink, iptables-save and
   * -restore, conntrack); 0 when not counted.
   */
  processes: number;
  /** Real servers left draining. */
  draining: number;
  /** Sum of every write (0 means the kernel already matched). */
  writes: number;
  /**
   * The writes that repaired drift (drift.ts): objects someone else changed since the last
   * sync, whose input did not change. Empty on the sync that adopts the kernel.
   */
  drift: Write[];
  ms: number;
  /**
   * Where the time went, ms: `plan`, `addresses` (kube-ipvs0 read and added), `ipvs` (read,
   * compared and applied), `sets` (ipsets and iptables), `rest` (removals, conntrack). Phases a
   * sync skipped are absent.
   */
  phases: Partial<Record<SyncPhase, number>>;
}

/** The phases of {@link SyncReport.phases}. */
export type SyncPhase = "plan" | "addresses" | "ipvs" | "sets" | "rest";

/** Records how long each phase took, into a report. */
export class PhaseClock {
  #at = performance.now();
  #phases: SyncReport["phases"];
  constructor(phases: SyncReport["phases"]) {
    this.#phases = phases;
  }
  /** Closes `phase` now (its time added to what it had). */
  lap(phase: SyncPhase): void {
    const now = performance.now();
    this.#phases[phase] = +((this.#phases[phase] ?? 0) + now - this.#at).toFixed(1);
    this.#at = now;
  }
}

/** A report of a sync that has not done anything yet. */
export function emptyReport(full: boolean): SyncReport {
  return {
    full,
    services: 0,
    ipvsOps: 0,
    ipvsFailed: 0,
    netlinkMessages: 0,
    addressesAdded: 0,
    addressesRemoved: 0,
    ipsetRestores: 0,
    ipsetEntries: 0,
    iptablesRestores: 0,
    processes: 0,
    draining: 0,
    writes: 0,
    drift: [],
    ms: 0,
    phases: {},
  };
}
