/**
 * One sync of ipsets and iptables, in the order the kernel needs: sets before the rules that
 * match them. Each facility is read once and written at most once (one `ipset restore`, one
 * `iptables-restore --noflush` per family); when the kernel already matches, nothing is written.
 *
 * A kube-proxy set that exists with the wrong type cannot be changed in place, and the kernel
 * refuses to destroy it while a rule matches it: the owned chains that match such a set are
 * emptied first (one restore per family), then the set is destroyed and created again, then the
 * chains are refilled by the normal rule sync.
 *
 * @module
 */

import type { Family } from "../net/family.ts";
import type { ReadonlySetMembers } from "../dataplane/members.ts";
import type { ProxyConfig } from "../config/config.ts";
import type { Ipset } from "../dataplane/ipset/ipset.ts";
import { planIpsetRestore } from "./ipset_restore.ts";
import { setSpec } from "../dataplane/ipset/spec.ts";
import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import type { IpsetSyncResult } from "./ipset.ts";
import { OWNED_CHAINS } from "../dataplane/iptables/chains.ts";
import { type IptablesPlan, planIptablesRestore } from "./iptables_diff.ts";
import type { Iptables } from "../dataplane/iptables/iptables.ts";
import { planRules } from "../plan/rules.ts";
import { type IptablesRules, renderIptables } from "../dataplane/iptables/render.ts";

/** What {@link syncIptables} did. */
export interface IptablesSyncResult extends IptablesPlan {
  family: Family;
  /** Whether iptables-restore ran. */
  restored: boolean;
}

/** Makes one family's owned chains and jump rules match `rules`; writes nothing when they do. */
export async function syncIptables(
  iptables: Iptables,
  rules: IptablesRules,
): Promise<IptablesSyncResult> {
  const current = await iptables.save(rules.family);
  const plan = planIptablesRestore({ desired: rules, current });
  if (plan.payload !== "") await iptables.restore(rules.family, plan.payload);
  return { ...plan, family: rules.family, restored: plan.payload !== "" };
}

/** Options of {@link syncSetsAndRules}. */
export interface RulesSyncOptions {
  ipset: Ipset;
  iptables: Iptables;
  /** DesiredState.ipsets (both families) and DesiredState.families. */
  desired: { ipsets: ReadonlyMap<string, ReadonlySetMembers>; families: readonly Family[] };
  config: Pick<ProxyConfig, "masqueradeAll" | "masqueradeBit" | "clusterCIDRs">;
  /**
   * The kernel's sets as the previous sync left them ({@link RulesSyncResult.ipsetSnapshot}):
   * trusted instead of running `ipset save`, whose cost grows with the entries (5 s for 30,000
   * in the test kernel). Leave it out for a full resync, which also repairs drift.
   */
  ipsetSnapshot?: IpsetSnapshot;
}

/** What {@link syncSetsAndRules} did. */
export interface RulesSyncResult {
  ipset: IpsetSyncResult;
  /** One entry per planned family. */
  iptables: IptablesSyncResult[];
  /** Chains emptied so that wrongly typed sets could be recreated ("4/filter/KUBE-IPVS-FILTER"). */
  unhooked: string[];
  /** Restore processes run (0 when the kernel already matched). */
  writes: number;
  /** The kernel's sets after this sync, for the next one's `ipsetSnapshot`. */
  ipsetSnapshot: IpsetSnapshot;
}

/** Syncs ipsets, then each family's iptables. */
export async function syncSetsAndRules(options: RulesSyncOptions): Promise<RulesSyncResult> {
  const { ipset, iptables, desired } = options;
  const plan = planIpsetRestore({
    desired: desired.ipsets,
    families: desired.families,
    current: options.ipsetSnapshot ?? await ipset.save(),
  });
  let writes = 0;
  const unhooked: string[] = [];
  if (plan.recreated.length > 0) {
    const sets = plan.recreated.map((n) => ` --match-set ${n} `);
    const families = new Set(plan.recreated.map((n) => setSpec(n)!.family));
    for (const family of families) {
      const current = await iptables.save(family);
      const out: string[] = [];
      for (const table of ["nat", "filter"] as const) {
        const chains = OWNED_CHAINS[table].filter((c) =>
          current.get(table)?.get(c)?.rules.some((r) => sets.some((s) => r.includes(s)))
        );
        if (chains.length === 0) continue;
        out.push(`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), "COMMIT");
        unhooked.push(...chains.map((c) => `${family}/${table}/${c}`));
      }
      if (out.length === 0) continue;
      await iptables.restore(family, out.join("\n") + "\n");
      writes++;
    }
  }
  if (plan.ops.length > 0) {
    await ipset.apply(plan.ops);
    writes++;
  }
  const randomFully = await iptables.hasRandomFully();
  const results: IptablesSyncResult[] = [];
  for (const family of desired.families) {
    const rules = renderIptables(planRules({
      family,
      config: options.config,
      ipsets: desired.ipsets,
      randomFully,
    }));
    const r = await syncIptables(iptables, rules);
    if (r.restored) writes++;
    results.push(r);
  }
  return {
    ipset: { ...plan, restored: plan.ops.length > 0 },
    iptables: results,
    unhooked,
    writes,
    ipsetSnapshot: plan.after,
  };
}
