/**
 * The iptables reconciler: each planned family's owned chains hold exactly the planned rules
 * (dataplane/rules.ts, rendered by iptables/render.ts) and the jumps into them exist. One
 * `iptables-save` and at most one `iptables-restore --noflush` per family, writing only the
 * chains that differ (iptables_diff.ts); nothing when the kernel already matches.
 *
 * A full sync reads and compares every family. An incremental sync renders the rules again only
 * when set members changed (which sets are empty decides which rules exist), and touches the
 * kernel only when the rendered text differs from what the last sync wrote.
 *
 * @module
 */

import type { ProxyConfig } from "../config/config.ts";
import { OWNED_CHAINS } from "../dataplane/iptables/chains.ts";
import type { Iptables } from "../dataplane/iptables/iptables.ts";
import { type IptablesRules, renderIptables, rulesPayload } from "../dataplane/iptables/render.ts";
import type { Family } from "../net/family.ts";
import type { DesiredState } from "../plan/desired.ts";
import { planRules } from "../plan/rules.ts";
import { type IptablesPlan, planIptablesRestore } from "./iptables_diff.ts";
import type { Reconciler, SyncScope, Write } from "./reconciler.ts";

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

/** Options of {@link IptablesReconciler}. */
export interface IptablesReconcilerOptions {
  iptables: Iptables;
  config: Pick<ProxyConfig, "masqueradeAll" | "masqueradeBit" | "clusterCIDRs">;
}

/** Reconciles kube-proxy's chains, per family. */
export class IptablesReconciler implements Reconciler {
  readonly name = "rules";
  readonly phase = "sets" as const;
  #o: IptablesReconcilerOptions;
  /** The rules last written (or found equal), per family: what the next sync compares with. */
  #last = new Map<Family, IptablesRules>();
  #lastText = new Map<Family, string>();
  #randomFully: boolean | undefined;
  /** What the last update did, per family (for tests and tools). */
  results: IptablesSyncResult[] = [];

  constructor(options: IptablesReconcilerOptions) {
    this.#o = options;
  }

  async update(scope: SyncScope): Promise<Write[] | undefined> {
    if (scope.changes && scope.changes.entries.length === 0) return undefined;
    const writes: Write[] = [];
    this.results = [];
    for (const family of scope.desired.families) {
      const rules = await this.#render(scope.desired, family);
      const text = rulesPayload(rules);
      if (scope.changes && text === this.#lastText.get(family)) continue;
      const res = await syncIptables(this.#o.iptables, rules);
      this.results.push(res);
      if (res.restored) scope.report.iptablesRestores++;
      if (scope.record) writes.push(...this.#writes(res, rules));
      this.#last.set(family, rules);
      this.#lastText.set(family, text);
    }
    return writes;
  }

  /** Owned chains always exist (emptied at most): nothing to prune. */
  prune(_scope: SyncScope): Promise<Write[]> {
    return Promise.resolve([]);
  }

  reset(): void {
    this.#last.clear();
    this.#lastText.clear();
  }

  /**
   * Empties the owned chains that match any of `sets` (`--match-set NAME`), so that the kernel
   * lets those sets be destroyed and created again; the next update refills the chains. Returns
   * the chains emptied ("4/filter/KUBE-IPVS-FILTER"); one restore per family that had any.
   */
  async unhook(sets: readonly { name: string; family: Family }[]): Promise<string[]> {
    const unhooked: string[] = [];
    for (const family of new Set(sets.map((s) => s.family))) {
      const matches = sets.filter((s) => s.family === family)
        .map((s) => ` --match-set ${s.name} `);
      const current = await this.#o.iptables.save(family);
      const out: string[] = [];
      for (const table of ["nat", "filter"] as const) {
        const chains = OWNED_CHAINS[table].filter((c) =>
          current.get(table)?.get(c)?.rules.some((r) => matches.some((m) => r.includes(m)))
        );
        if (chains.length === 0) continue;
        out.push(`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), "COMMIT");
        unhooked.push(...chains.map((c) => `${family}/${table}/${c}`));
      }
      if (out.length > 0) await this.#o.iptables.restore(family, out.join("\n") + "\n");
    }
    this.reset(); // the emptied chains differ from what was last written
    return unhooked;
  }

  async #render(desired: DesiredState, family: Family): Promise<IptablesRules> {
    this.#randomFully ??= await this.#o.iptables.hasRandomFully();
    return renderIptables(planRules({
      family,
      config: this.#o.config,
      ipsets: desired.ipsets,
      randomFully: this.#randomFully,
    }));
  }

  /**
   * The chains and jumps a restore wrote. A chain whose planned rules changed since the last
   * write follows from the plan; one planned the same was changed by someone else.
   */
  #writes(res: IptablesSyncResult, rules: IptablesRules): Write[] {
    const before = this.#last.get(res.family);
    const same = (table: "nat" | "filter", chain: string) => {
      const a = before?.tables[table].rules.get(chain);
      const b = rules.tables[table].rules.get(chain);
      return a !== undefined && b !== undefined && a.length === b.length &&
        a.every((l, i) => l === b[i]);
    };
    const writes: Write[] = res.chains.map((tc) => {
      const [table, chain] = tc.split("/") as ["nat" | "filter", string];
      const object = `${res.family}/${tc}`;
      return { kind: "rule", action: "update", object, planned: !same(table, chain) };
    });
    for (const jump of res.jumps) {
      writes.push({ kind: "rule", action: "add", object: `${res.family}/${jump}` });
    }
    return writes;
  }
}
