/**
 * The one small interface behind which each kernel backend is reconciled, in the spirit of
 * Cilium's pkg/loadbalancer reconciler (Update, Delete, Prune over desired objects): a
 * reconciler reads what its backend holds, compares it with the plan, writes the differences
 * and returns what it wrote. Idempotent: run twice on the same plan, the second run writes
 * nothing. The proxier runs every reconciler's {@link Reconciler.update} in the order the
 * kernel needs (kube-ipvs0 addresses, IPVS, sets, rules: nothing sends traffic to an object
 * before it exists) and then every {@link Reconciler.prune} in the reverse order (nothing is
 * removed while a rule or set still sends traffic to it).
 *
 * A rules backend is one more reconciler: the ipset and iptables reconcilers render the plan's
 * set members (dataplane/members.ts) and rules (dataplane/rules.ts) their way, and a native
 * nftables backend can take both in one reconciler (nft sets replace ipsets) without the planner
 * changing.
 *
 * @module
 */

import type { DesiredState, IpsetEntry } from "../plan/desired.ts";
import type { SyncPhase, SyncReport } from "./report.ts";
import type { Write } from "./write.ts";

export { WRITE_KINDS } from "./write.ts";
export type { Write, WriteAction, WriteKind } from "./write.ts";

/** What changed in the plan since the last sync (an incremental sync's scope). */
export interface PlanChanges {
  /** Virtual servers added, changed or removed (look them up in the plan). */
  virtualServers: ReadonlySet<string>;
  addressesAdded: ReadonlySet<string>;
  addressesRemoved: ReadonlySet<string>;
  /** Set members that appeared or disappeared (possibly both, over several services). */
  entries: readonly IpsetEntry[];
}

/** What one sync asks of a reconciler. */
export interface SyncScope {
  desired: DesiredState;
  /**
   * What changed since the last sync; undefined for a full sync, which reads back everything
   * the backend owns, writes what differs (repairing drift) and prunes what the plan lacks.
   */
  changes?: PlanChanges;
  /** The sync's report: each reconciler adds its counts. */
  report: SyncReport;
  /** Writes the kernel refused, as messages: the sync fails after doing the rest. */
  failures: string[];
  /**
   * Whether to return the writes: false for a sync with no earlier one to compare with (the
   * first after a start, which adopts what it finds), so that a cold start holds no list of
   * 100,000 writes.
   */
  record: boolean;
}

/** A backend's reconciler. */
export interface Reconciler {
  /** A name for logs ("addresses", "ipvs", "sets", "rules"). */
  readonly name: string;
  /** The phase of the sync report its update is timed under. */
  readonly phase: SyncPhase;
  /**
   * Brings the objects in scope to their planned form: adds and updates, and removes the parts
   * of kept objects the plan dropped (a real server of a kept virtual server, a stale member of
   * a set). Returns the writes (none unless `scope.record`), or undefined when the scope holds
   * nothing for this backend (an incremental sync that touched none of its objects).
   */
  update(scope: SyncScope): Promise<Write[] | undefined>;
  /**
   * Removes what the plan no longer wants: on a full sync every object the backend owns that
   * the plan lacks (prune), else the objects the changes removed (delete). Runs after every
   * reconciler's update of the same sync.
   */
  prune(scope: SyncScope): Promise<Write[]>;
  /** Forgets what it believes the kernel holds (after a failed sync): the next full sync reads it. */
  reset(): void;
}
