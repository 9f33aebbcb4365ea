/**
 * The ipset reconciler: every kube-proxy set of the planned families exists as kube-proxy
 * creates it and holds exactly the planned members, written as typed ops in one batch (one
 * `ipset restore`, or netlink batches).
 *
 * A full sync reads every set (one netlink dump) and writes the differences
 * ({@link planIpsetRestore}). A set of the wrong type cannot be changed in place, and the kernel
 * refuses to destroy it while a rule matches it: the rules backend empties the owned chains that
 * match it first (`unhook`), then the set is destroyed and created again, and the rules
 * reconciler refills the chains. An incremental sync compares only the members its changes
 * touched with the sets as the last sync left them ({@link planIpsetDelta}): no read.
 *
 * @module
 */

import type { Ipset } from "../dataplane/ipset/ipset.ts";
import type { IpsetOp } from "../dataplane/ipset/ops.ts";
import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import { setSpec } from "../dataplane/ipset/spec.ts";
import type { Family } from "../net/family.ts";
import { planIpsetDelta } from "./ipset_delta.ts";
import { type IpsetPlan, planIpsetRestore } from "./ipset_restore.ts";
import type { Reconciler, SyncScope, Write } from "./reconciler.ts";

/** Options of {@link IpsetReconciler}. */
export interface IpsetReconcilerOptions {
  ipset: Ipset;
  /**
   * Empties the rules that match these sets, so that they can be destroyed and created again;
   * returns the chains emptied (one restore per family that had any).
   */
  unhook?: (sets: readonly { name: string; family: Family }[]) => Promise<string[]>;
}

/** Reconciles kube-proxy's ipsets. */
export class IpsetReconciler implements Reconciler {
  readonly name = "sets";
  readonly phase = "sets" as const;
  #o: IpsetReconcilerOptions;
  /** The sets as the last sync left them: the incremental path's reference. */
  #snapshot: IpsetSnapshot | undefined;
  /** {@link trust} was called: the next full update takes the snapshot for the kernel's sets. */
  #trusted = false;
  /** What the last full plan decided (for tests and tools). */
  lastPlan: IpsetPlan | undefined;
  /** Chains emptied by the last update to recreate sets. */
  unhooked: string[] = [];

  constructor(options: IpsetReconcilerOptions) {
    this.#o = options;
  }

  /** The sets as the last update left them (undefined before the first, or after a reset). */
  get snapshot(): IpsetSnapshot | undefined {
    return this.#snapshot;
  }

  /** Trusts `snapshot` as what the kernel holds: the next full update reads no sets. */
  trust(snapshot: IpsetSnapshot): void {
    this.#snapshot = snapshot;
    this.#trusted = true;
  }

  async update(scope: SyncScope): Promise<Write[] | undefined> {
    this.unhooked = [];
    if (scope.changes) {
      if (scope.changes.entries.length === 0) return undefined;
      const delta = this.#snapshot && planIpsetDelta({
        desired: scope.desired.ipsets,
        touched: scope.changes.entries,
        current: this.#snapshot,
      });
      if (delta) {
        await this.#apply(delta.ops, scope);
        delta.commit();
        scope.report.ipsetEntries += delta.added + delta.deleted;
        return scope.record ? delta.ops.map(memberWrite) : [];
      }
    }
    // A full sync reads the kernel (it repairs what others changed); an incremental one whose
    // sets are not known, or not as kipvs creates them, falls back to the whole comparison.
    const known = scope.changes || this.#trusted ? this.#snapshot : undefined;
    this.#snapshot = undefined;
    this.#trusted = false;
    return await this.#full(scope, known ?? await this.#o.ipset.save());
  }

  /** kipvs never destroys its sets but to recreate them: nothing to prune. */
  prune(_scope: SyncScope): Promise<Write[]> {
    return Promise.resolve([]);
  }

  reset(): void {
    this.#snapshot = undefined;
    this.#trusted = false;
  }

  async #full(scope: SyncScope, current: IpsetSnapshot): Promise<Write[]> {
    const plan = planIpsetRestore({
      desired: scope.desired.ipsets,
      families: scope.desired.families,
      current,
    });
    this.lastPlan = plan;
    if (plan.recreated.length > 0 && this.#o.unhook) {
      const sets = plan.recreated.map((name) => ({ name, family: setSpec(name)!.family }));
      this.unhooked = await this.#o.unhook(sets);
      scope.report.iptablesRestores += new Set(this.unhooked.map((c) => c.split("/")[0])).size;
    }
    await this.#apply(plan.ops, scope);
    this.#snapshot = plan.after;
    scope.report.ipsetEntries += plan.added + plan.deleted;
    if (!scope.record) return [];
    const writes: Write[] = [
      ...plan.created.map((set): Write => ({ kind: "ipset", action: "add", object: set })),
      ...plan.recreated.map((set): Write => ({ kind: "ipset", action: "update", object: set })),
    ];
    for (const op of plan.ops) if (op.op === "add" || op.op === "del") writes.push(memberWrite(op));
    return writes;
  }

  async #apply(ops: readonly IpsetOp[], scope: SyncScope): Promise<void> {
    if (ops.length === 0) return;
    await this.#o.ipset.apply(ops);
    scope.report.ipsetRestores++;
  }
}

/** The member an add or del op wrote. */
function memberWrite(op: IpsetOp): Write {
  if (op.op !== "add" && op.op !== "del") {
    return { kind: "ipset", action: "update", object: op.set };
  }
  return {
    kind: "ipset",
    action: op.op === "add" ? "add" : "delete",
    object: `${op.set} ${op.member.key}`,
    parent: op.set,
  };
}
