/**
 * The `iptables-restore --noflush` payload that takes one family's tables from what
 * `iptables-save` showed to what {@link renderIptables} wants: only the owned chains whose rules
 * differ are declared (which creates or empties them) and refilled, and only missing jump rules
 * are inserted, at the top of their built-in chain, in kube-proxy's order. Chains kipvs does not
 * own are never flushed, and an unchanged rule set gives an empty payload.
 *
 * @module
 */

import { CHAIN, type Table } from "../dataplane/iptables/chains.ts";
import type { IptablesRules } from "../dataplane/iptables/render.ts";
import type { IptablesSnapshot } from "../dataplane/iptables/save.ts";

/** Options of {@link planIptablesRestore}. */
export interface IptablesPlanOptions {
  desired: IptablesRules;
  /** `iptables-save` of the same family, parsed. */
  current: IptablesSnapshot;
}

/** What {@link planIptablesRestore} decided. */
export interface IptablesPlan {
  /** The payload; "" when nothing differs. */
  payload: string;
  /** Owned chains rewritten, as "table/CHAIN". */
  chains: string[];
  /** Jump rules inserted, as "table/FROM -> TO". */
  jumps: string[];
}

// Chains whose rules are independent terminal matches: their order carries no meaning, so a
// chain holding the same rules in another order (kube-proxy writes them in map order) is adopted.
const UNORDERED = new Set<string>([CHAIN.IPVS_OUT_FILTER]);

function sameRules(chain: string, want: readonly string[], have: readonly string[]): boolean {
  if (want.length !== have.length) return false;
  if (UNORDERED.has(chain)) {
    const a = [...want].sort();
    const b = [...have].sort();
    return a.every((l, i) => l === b[i]);
  }
  return want.every((l, i) => l === have[i]);
}

/** Computes the restore payload for the differences between `desired` and `current`. */
export function planIptablesRestore(options: IptablesPlanOptions): IptablesPlan {
  const { desired, current } = options;
  const plan: IptablesPlan = { payload: "", chains: [], jumps: [] };
  const out: string[] = [];
  for (const table of ["nat", "filter"] as const satisfies readonly Table[]) {
    const cur = current.get(table) ?? new Map();
    const want = desired.tables[table];
    const changed = want.chains.filter((c) => {
      const have = cur.get(c);
      return !have || !sameRules(c, want.rules.get(c) ?? [], have.rules);
    });
    const inserts: string[] = [];
    for (const { rule, line } of desired.jumps) {
      if (rule.table !== table || cur.get(rule.from)?.rules.includes(line)) continue;
      inserts.push(`-I ${rule.from} 1 ${line.slice(`-A ${rule.from} `.length)}`);
      plan.jumps.push(`${table}/${rule.from} -> ${rule.to}`);
    }
    if (changed.length === 0 && inserts.length === 0) continue;
    out.push(`*${table}`, ...changed.map((c) => `:${c} - [0:0]`));
    for (const c of changed) out.push(...want.rules.get(c) ?? []);
    out.push(...inserts, "COMMIT");
    plan.chains.push(...changed.map((c) => `${table}/${c}`));
  }
  plan.payload = out.length ? out.join("\n") + "\n" : "";
  return plan;
}
