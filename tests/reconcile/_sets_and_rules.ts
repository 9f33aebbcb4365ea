/**
 * Sets and rules alone, as a full sync reconciles them (the ipset reconciler, then the iptables
 * reconciler, wired as the proxier wires them): for the tests of these two backends, unit and
 * kernel, which have no IPVS or addresses to program.
 *
 * @module
 */

import type { ProxyConfig } from "../../src/config/config.ts";
import type { Ipset } from "../../src/dataplane/ipset/ipset.ts";
import type { IpsetSnapshot } from "../../src/dataplane/ipset/save.ts";
import type { Iptables } from "../../src/dataplane/iptables/iptables.ts";
import type { ReadonlySetMembers } from "../../src/dataplane/members.ts";
import type { Family } from "../../src/net/family.ts";
import type { DesiredState } from "../../src/plan/desired.ts";
import { IpsetReconciler } from "../../src/reconcile/ipset_reconciler.ts";
import type { IpsetPlan } from "../../src/reconcile/ipset_restore.ts";
import {
  IptablesReconciler,
  type IptablesSyncResult,
} from "../../src/reconcile/iptables_reconciler.ts";
import { emptyReport } from "../../src/reconcile/report.ts";

/** Options of {@link syncSetsAndRules}. */
export interface RulesSyncOptions {
  ipset: Ipset;
  iptables: Iptables;
  /** DesiredState.ipsets (both families) and DesiredState.families. */
  desired: { ipsets: ReadonlyMap<string, ReadonlySetMembers>; families: readonly Family[] };
  config: Pick<ProxyConfig, "masqueradeAll" | "masqueradeBit" | "clusterCIDRs">;
  /** The sets as a previous sync left them, trusted instead of reading them. */
  ipsetSnapshot?: IpsetSnapshot;
}

/** What {@link syncSetsAndRules} did. */
export interface RulesSyncResult {
  ipset: IpsetPlan & { restored: boolean };
  iptables: IptablesSyncResult[];
  /** Chains emptied so that wrongly typed sets could be recreated ("4/filter/KUBE-IPVS-FILTER"). */
  unhooked: string[];
  /** Restore processes run (0 when the kernel already matched). */
  writes: number;
  /** The kernel's sets after this sync. */
  ipsetSnapshot: IpsetSnapshot;
}

/** One full sync of ipsets, then each family's iptables. */
export async function syncSetsAndRules(o: RulesSyncOptions): Promise<RulesSyncResult> {
  const rules = new IptablesReconciler({ iptables: o.iptables, config: o.config });
  const sets = new IpsetReconciler({ ipset: o.ipset, unhook: (s) => rules.unhook(s) });
  if (o.ipsetSnapshot) sets.trust(o.ipsetSnapshot);
  const report = emptyReport(true);
  const desired = {
    ...o.desired,
    ipsets: o.desired.ipsets as DesiredState["ipsets"],
    families: [...o.desired.families],
  } as DesiredState;
  const scope = { desired, report, failures: [], record: false };
  await sets.update(scope);
  await rules.update(scope);
  return {
    ipset: { ...sets.lastPlan!, restored: report.ipsetRestores > 0 },
    iptables: rules.results,
    unhooked: sets.unhooked,
    writes: report.ipsetRestores + report.iptablesRestores,
    ipsetSnapshot: sets.snapshot!,
  };
}
