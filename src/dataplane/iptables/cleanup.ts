/**
 * Removing kube-proxy's IPVS-mode chains (kipvs's are the same) from one family: every rule
 * outside them that jumps into them is deleted (`-D`, by its exact text), then the chains are
 * emptied and deleted, in one `iptables-restore --noflush`. Other rules and chains stay as
 * they are. Run before destroying the ipsets the rules match.
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import { OWNED_CHAINS, type Table } from "./chains.ts";
import type { Iptables } from "./iptables.ts";
import type { IptablesSnapshot } from "./save.ts";

/** Options of {@link iptablesCleanupPayload} and {@link cleanupIptables}. */
export interface IptablesCleanupOptions {
  /** More chains to remove, e.g. the localnet guard's filter/KUBE-FIREWALL. */
  extraChains?: readonly { table: Table; chain: string }[];
}

/** What a cleanup removes. */
export interface IptablesCleanupPlan {
  payload: string;
  /** "table/CHAIN" of the chains deleted. */
  chains: string[];
  /** The jump rules deleted, as saved. */
  jumps: string[];
}

const TARGET = / -[jg] (\S+)(?: |$)/;

/** The cleanup payload for what `current` holds ("" when nothing of ours is there). */
export function iptablesCleanupPayload(
  current: IptablesSnapshot,
  options: IptablesCleanupOptions = {},
): IptablesCleanupPlan {
  const plan: IptablesCleanupPlan = { payload: "", chains: [], jumps: [] };
  const out: string[] = [];
  for (const table of ["nat", "filter"] as const) {
    const saved = current.get(table);
    if (!saved) continue;
    const extra = (options.extraChains ?? []).filter((e) => e.table === table).map((e) => e.chain);
    const ours = new Set([...OWNED_CHAINS[table], ...extra].filter((c) => saved.has(c)));
    if (ours.size === 0) continue;
    const deletes: string[] = [];
    for (const [name, chain] of saved) {
      if (ours.has(name)) continue;
      for (const rule of chain.rules) {
        const target = TARGET.exec(rule)?.[1];
        if (target && ours.has(target)) {
          deletes.push("-D" + rule.slice(2));
          plan.jumps.push(rule);
        }
      }
    }
    out.push(`*${table}`, ...deletes);
    for (const c of ours) out.push(`:${c} - [0:0]`);
    for (const c of ours) out.push(`-X ${c}`);
    out.push("COMMIT");
    plan.chains.push(...[...ours].map((c) => `${table}/${c}`));
  }
  plan.payload = out.length ? out.join("\n") + "\n" : "";
  return plan;
}

/** Removes our chains and the jumps to them from one family; returns what it removed. */
export async function cleanupIptables(
  iptables: Iptables,
  family: Family,
  options: IptablesCleanupOptions = {},
): Promise<IptablesCleanupPlan> {
  const plan = iptablesCleanupPayload(await iptables.save(family), options);
  await iptables.restore(family, plan.payload);
  return plan;
}
