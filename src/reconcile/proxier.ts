/**
 * One sync of the node's dataplane: plan, then let each backend's reconciler (reconciler.ts)
 * compare the plan with the kernel and write the differences, in the order the kernel needs.
 *
 * A full sync plans every service and has every reconciler read everything back (IPVS table,
 * kube-ipvs0 addresses, ipsets, iptables), so it adopts what it finds and repairs drift. An
 * incremental sync replans only the services that changed, and the reconcilers read and write
 * only what that changed: its work is in proportion to the change. Updates run first, in order
 * (addresses, IPVS, sets, rules: nothing sends traffic to an object before it exists), then the
 * prunes in the reverse order (nothing is removed while something still sends traffic to it).
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import { pace } from "../pace.ts";
import type { Conntrack } from "../dataplane/conntrack/conntrack.ts";
import type { Ipset } from "../dataplane/ipset/ipset.ts";
import type { Iptables } from "../dataplane/iptables/iptables.ts";
import type { Ipvs } from "../dataplane/ipvs/types.ts";
import type { DummyLink } from "../dataplane/link/types.ts";
import type { Logger } from "../log.ts";
import type { ClusterState } from "../source/source.ts";
import type { NodeInfo, ProxyConfig } from "../config/config.ts";
import type { DesiredState, IpsetEntry } from "../plan/desired.ts";
import { PlanMerge } from "../plan/merge.ts";
import { planService, sliceLookup } from "../plan/plan.ts";
import { AddressReconciler } from "./addresses.ts";
import { ConflictReporter } from "./conflicts.ts";
import { driftOf, InputChanges } from "./drift.ts";
import type { Draining } from "./ipvs.ts";
import { IpsetReconciler } from "./ipset_reconciler.ts";
import { IptablesReconciler } from "./iptables_reconciler.ts";
import { IptablesLeftovers, NftablesLeftovers } from "./mode_cleanup.ts";
import { NftablesReconciler } from "./nftables_reconciler.ts";
import type { Nftables } from "../dataplane/nftables/nftables.ts";
import { IpvsReconciler } from "./ipvs_reconciler.ts";
import type { PlanChanges, Reconciler, SyncScope, Write } from "./reconciler.ts";
import { emptyReport, PhaseClock, type SyncReport } from "./report.ts";

export type { SyncPhase, SyncReport } from "./report.ts";

/** The kernel facilities one sync drives. */
export interface Dataplane {
  ipvs: Ipvs;
  link: DummyLink;
  ipset: Ipset;
  iptables: Iptables;
  /** kipvs's nftables tables (the nftables rules backend; removed by the iptables one). */
  nftables?: Nftables;
  conntrack: Conntrack;
  /** Programs started so far by the backends above, when they are counted (see CountingExec). */
  programs?: () => number;
}

/** Services planned between two looks at the time (see pace.ts): ~10 ms of work in a small VM. */
const PACE_EVERY = 16;

/** What decides a sync. */
export interface SyncInput {
  state: ClusterState;
  node: NodeInfo;
  /**
   * Services that changed since the last sync: replanned by an incremental sync; a full sync
   * replans every service and uses these to tell input changes from drift.
   */
  services: ReadonlySet<string>;
  full: boolean;
  /** Anything may have changed (a relist, the node): no write of this sync counts as drift. */
  allChanged?: boolean;
  /**
   * A full sync that keeps the last plan of every service not in `services` (they did not
   * change): it replans the changed ones and compares everything with the kernel, as a periodic
   * resync does. Ignored when there is no last plan or the node differs from the last plan's.
   */
  reusePlan?: boolean;
}

/** Options of {@link Proxier}. */
export interface ProxierOptions {
  config: ProxyConfig;
  dataplane: Dataplane;
  logger: Logger;
}

/**
 * The reconcilers of the packet filter (`--rules-backend`). iptables: ipsets, then the iptables
 * rules that match them (the rules backend empties the chains of a set that must be recreated).
 * nftables: one reconciler for kipvs's tables, sets and rules together. Each mode ends with the
 * other mode's leftovers, removed in the prunes, after every update (mode_cleanup.ts).
 */
export function packetFilterReconcilers(
  dp: Pick<Dataplane, "ipset" | "iptables" | "nftables">,
  config: ProxyConfig,
  logger: Logger,
): Reconciler[] {
  if (config.rulesBackend === "nftables") {
    if (!dp.nftables) throw new Error("the nftables rules backend needs Dataplane.nftables");
    return [
      new NftablesReconciler({ nftables: dp.nftables, config }),
      new IptablesLeftovers({ iptables: dp.iptables, ipset: dp.ipset, logger }),
    ];
  }
  const rules = new IptablesReconciler({ iptables: dp.iptables, config });
  const sets = new IpsetReconciler({ ipset: dp.ipset, unhook: (s) => rules.unhook(s) });
  return dp.nftables ? [sets, rules, new NftablesLeftovers(dp.nftables, logger)] : [sets, rules];
}

/** Keeps the dataplane in step with the plan. Not reentrant: the sync runner serialises calls. */
export class Proxier {
  #o: ProxierOptions;
  #merge: PlanMerge | undefined;
  #node: string | undefined;
  #ipvs: IpvsReconciler;
  /** In the order their updates run. */
  #reconcilers: Reconciler[];
  #conflicts = new ConflictReporter();
  /** The last sync completed with every write done: the next one can tell drift. */
  #baseline = false;

  constructor(options: ProxierOptions) {
    this.#o = options;
    const { config, dataplane: dp, logger } = options;
    this.#ipvs = new IpvsReconciler({
      ipvs: dp.ipvs,
      conntrack: dp.conntrack,
      families: config.families,
      excludeCIDRs: config.excludeCIDRs,
      logger,
    });
    this.#reconcilers = [
      new AddressReconciler(dp.link),
      this.#ipvs,
      ...packetFilterReconcilers(dp, config, logger),
    ];
  }

  /** Virtual servers (a node port counting once) that more than one Service wants. */
  get conflicts(): number {
    return this.#conflicts.count;
  }

  /** The desired state after the last sync (undefined before the first). */
  get desired(): DesiredState | undefined {
    return this.#merge?.state;
  }

  /** Real servers draining. */
  get draining(): Draining[] {
    return this.#ipvs.draining;
  }

  /** How many real servers are draining (without listing them). */
  get drainingCount(): number {
    return this.#ipvs.drainingCount;
  }

  #lock: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every kernel job queued before it: syncs and drain checks never overlap. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  /** Runs one sync; throws a `sync` KipvsError when some writes failed (after doing the rest). */
  sync(input: SyncInput): Promise<SyncReport> {
    return this.#serial(() => this.#sync(input));
  }

  /** Deletes draining real servers whose connections ended. */
  checkDraining(): Promise<number> {
    return this.#serial(() => this.#ipvs.checkDraining());
  }

  async #sync(input: SyncInput): Promise<SyncReport> {
    const started = performance.now();
    const nodeKey = JSON.stringify(input.node);
    const full = input.full || !this.#merge || nodeKey !== this.#node;
    const before = this.#messages();
    const programs = this.#o.dataplane.programs?.() ?? 0;
    const r = emptyReport(full);
    const failures: string[] = [];
    // Drift can be told only against a sync that completed, with the same node.
    const changed = this.#baseline && nodeKey === this.#node && !input.allChanged
      ? new InputChanges()
      : undefined;
    this.#baseline = false;
    try {
      const clock = new PhaseClock(r.phases);
      const replanAll = full && !(input.reusePlan && this.#merge && nodeKey === this.#node);
      const planned = replanAll
        ? await this.#planAll(input, r, changed)
        : await this.#planChanges(input, r, changed);
      const { merge } = planned;
      // A full sync compares everything with the kernel, whichever way it planned.
      const changes = full ? undefined : planned.changes;
      this.#conflicts.report(merge.state, this.#o.logger);
      clock.lap("plan");
      const scope: SyncScope = {
        desired: merge.state,
        changes,
        report: r,
        failures,
        record: changed !== undefined,
      };
      const writes = await this.#reconcile(scope, clock);
      if (changed) r.drift = driftOf(writes, changed);
      this.#merge = merge;
    } catch (err) {
      // What the kernel holds is unknown now: the retry is a full sync that reads it all.
      for (const rec of this.#reconcilers) rec.reset();
      throw err;
    } finally {
      this.#node = full ? nodeKey : this.#node;
      r.netlinkMessages = this.#messages() - before;
      r.processes = (this.#o.dataplane.programs?.() ?? 0) - programs;
      r.draining = this.#ipvs.drainingCount;
      r.writes = r.ipvsOps + r.addressesAdded + r.addressesRemoved + r.ipsetRestores +
        r.iptablesRestores;
      r.ms = performance.now() - started;
    }
    if (failures.length > 0) {
      throw new KipvsError("sync", `${failures.length} write(s) failed: ${failures.join("; ")}`, {
        details: { failures: failures.length },
      });
    }
    this.#baseline = true;
    return r;
  }

  /** Every reconciler's update in order, then every prune in the reverse order. */
  async #reconcile(scope: SyncScope, clock: PhaseClock): Promise<Write[]> {
    const writes: Write[] = [];
    for (const rec of this.#reconcilers) {
      const w = await rec.update(scope);
      if (w === undefined) continue;
      for (const x of w) writes.push(x);
      clock.lap(rec.phase);
    }
    for (const rec of [...this.#reconcilers].reverse()) {
      for (const x of await rec.prune(scope)) writes.push(x);
    }
    clock.lap("rest");
    return writes;
  }

  #messages(): number {
    const dp = this.#o.dataplane;
    return dp.ipvs.messagesSent + dp.link.messagesSent + (dp.ipset.messagesSent ?? 0) +
      (dp.nftables?.messagesSent ?? 0);
  }

  /**
   * A plan of every service. The previous plan is replaced whole: it goes first, so that two
   * plans of every service never sit in memory together (a failure before the end leaves none:
   * the retry is full). `changed` collects the old and new plans of the services that changed.
   */
  async #planAll(
    input: SyncInput,
    r: SyncReport,
    changed: InputChanges | undefined,
  ): Promise<{ merge: PlanMerge; changes?: never }> {
    for (const key of changed ? input.services : []) changed!.add(this.#merge?.get(key));
    this.#merge = undefined;
    const merge = new PlanMerge({ families: this.#o.config.families });
    await this.#plan(input, merge, input.state.services.keys());
    for (const key of changed ? input.services : []) changed!.add(merge.get(key));
    r.services = merge.size;
    return { merge };
  }

  /** The last plan with the changed services replanned, and what that changed. */
  async #planChanges(
    input: SyncInput,
    r: SyncReport,
    changed: InputChanges | undefined,
  ): Promise<{ merge: PlanMerge; changes: PlanChanges }> {
    const merge = this.#merge!;
    for (const key of changed ? input.services : []) changed!.add(merge.get(key));
    const changes = await this.#plan(input, merge, input.services, true);
    for (const key of changed ? input.services : []) changed!.add(merge.get(key));
    r.services = input.services.size;
    return { merge, changes };
  }

  /**
   * Replans the services `keys`; with `collect`, returns what that changed in the plan. The
   * event loop runs every slice meanwhile (a full plan of
   * 10,000 services takes seconds in a small VM): changes the source sees then wait for the next
   * sync, which replans what they touched.
   */
  async #plan(
    input: SyncInput,
    merge: PlanMerge,
    keys: Iterable<string>,
    collect = false,
  ): Promise<PlanChanges> {
    const slices = sliceLookup(input.state);
    const ctx = { config: this.#o.config, node: input.node };
    const virtualServers = new Set<string>();
    const addressesAdded = new Set<string>();
    const addressesRemoved = new Set<string>();
    const entries: IpsetEntry[] = [];
    let n = 0;
    for (const key of keys) {
      if (++n % PACE_EVERY === 0) await pace();
      const svc = input.state.services.get(key);
      const d = merge.set(key, svc ? planService(svc, slices(key), ctx) : undefined);
      // A full sync compares everything with the kernel: it needs no list of what changed.
      if (!collect) continue;
      for (const k of d.virtualServers) virtualServers.add(k);
      for (const a of d.addressesAdded) addressesAdded.add(a);
      for (const a of d.addressesRemoved) addressesRemoved.add(a);
      for (const e of d.entriesAdded) entries.push(e);
      for (const e of d.entriesRemoved) entries.push(e);
    }
    return { virtualServers, addressesAdded, addressesRemoved, entries };
  }
}
