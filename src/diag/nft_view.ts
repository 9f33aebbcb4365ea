/**
 * kipvs's nftables tables seen as what they replace, so that `explain` walks them with the same
 * walker that walks iptables: each nft set becomes the ipset it stands for (elements parsed
 * back into members), and each chain the KUBE-* chain it stands for. nft rules are not parsed:
 * the rules kipvs would write for the sets the kernel holds are rendered both ways (one typed
 * rule is one nft rule and one iptables rule), and a chain whose nft rules are exactly those
 * rendered is walked through their iptables form. A chain that differs (changed by hand) is left
 * out, and said so. The trace is then written back in nftables' words: rule texts, chain and set
 * names, hooks ("nat-prerouting").
 *
 * @module
 */

import type { ProxyConfig } from "../config/config.ts";
import { parseMember } from "../dataplane/ipset/entry.ts";
import type { IpsetSnapshot, KernelSet } from "../dataplane/ipset/save.ts";
import { KUBE_SETS, setName } from "../dataplane/ipset/sets.ts";
import { setSpec } from "../dataplane/ipset/spec.ts";
import { JUMP_RULES } from "../dataplane/iptables/chains.ts";
import { renderJump, renderRule } from "../dataplane/iptables/render.ts";
import type { IptablesSnapshot, SavedTable } from "../dataplane/iptables/save.ts";
import type { SetMembers } from "../dataplane/members.ts";
import {
  baseChains,
  nftChainName,
  nftSetName,
  regularChains,
} from "../dataplane/nftables/layout.ts";
import type { ParsedNftTable } from "../dataplane/nftables/parse.ts";
import { renderNftRule } from "../dataplane/nftables/render.ts";
import type { Family } from "../net/family.ts";
import { planRules } from "../plan/rules.ts";
import type { NodeSnapshot } from "./snapshot.ts";

/** A snapshot in iptables' terms, and the words to write the trace back in. */
export interface NftView {
  snapshot: NodeSnapshot;
  /** iptables' word (a rule line, a chain, a set, "nat/PREROUTING") → nftables' word. */
  words: Map<string, string>;
  /** Chains that were not walked because they differ from what kipvs writes. */
  skipped: string[];
}

/** An nft element back in ipset's notation: "10.96.0.1 . tcp . 80" → "10.96.0.1,tcp:80". */
export function elementToEntry(element: string): string {
  const p = element.split(" . ");
  if (p.length === 1) return p[0]!;
  const head = `${p[0]},${p[1]}:${p[2]}`;
  return p.length === 4 ? `${head},${p[3]}` : head;
}

function setsOf(t: ParsedNftTable, family: Family, out: IpsetSnapshot): Map<string, SetMembers> {
  const byName = new Map(t.sets.map((s) => [s.name, s]));
  const sets = new Map<string, SetMembers>();
  for (const k of KUBE_SETS) {
    const name = setName(k.base, family);
    const members: SetMembers = new Map();
    for (const e of byName.get(nftSetName(k.base))?.elements ?? []) {
      const m = parseMember(k.type, family, elementToEntry(e)).member;
      if (m) members.set(m.key, m);
    }
    sets.set(name, members);
    const spec = setSpec(name)!;
    const kernel: KernelSet = {
      name,
      type: k.type,
      options: { ...spec.create, other: [] },
      members,
    };
    out.set(name, kernel);
  }
  return sets;
}

/** The view of `snap` when it holds kipvs's nftables tables; undefined when it does not. */
export function nftView(
  snap: NodeSnapshot,
  config: Pick<ProxyConfig, "masqueradeAll" | "masqueradeBit" | "clusterCIDRs">,
): NftView | undefined {
  if (snap.nft.size === 0) return undefined;
  const ipsets: IpsetSnapshot = new Map();
  const iptables = new Map<Family, IptablesSnapshot>();
  const words = new Map<string, string>();
  const skipped: string[] = [];
  for (const [family, t] of snap.nft) {
    const sets = setsOf(t, family, ipsets);
    for (const k of KUBE_SETS) words.set(setName(k.base, family), nftSetName(k.base));
    const rules = planRules({ family, config, ipsets: sets, randomFully: true });
    const held = new Map(t.chains.map((c) => [c.name, c]));
    const tables: IptablesSnapshot = new Map([["nat", new Map()], ["filter", new Map()]]);
    for (const c of regularChains()) {
      const typed = rules.tables[c.table].rules.get(c.chain) ?? [];
      const nft = typed.map((r) => renderNftRule(r, c.table, family));
      const h = held.get(c.name);
      const same = h !== undefined && h.rules.length === nft.length &&
        h.rules.every((r, i) => r === nft[i]);
      if (!same) skipped.push(`${family === 4 ? "ip" : "ip6"} kipvs ${c.name}`);
      const lines = same ? typed.map((r) => renderRule(r, family)) : [];
      lines.forEach((l, i) => words.set(l, nft[i]!));
      (tables.get(c.table) as SavedTable).set(c.chain, {
        name: c.chain,
        policy: "-",
        rules: lines,
      });
    }
    for (const b of baseChains()) {
      if (!held.has(b.name)) continue;
      const from = b.hook.toUpperCase();
      words.set(`${b.type}/${from}`, `${b.name} (hook ${b.hook} priority ${b.priority})`);
      const lines = JUMP_RULES.filter((j) => j.table === b.type && j.from === from).reverse()
        .map((j) => {
          const line = renderJump(j);
          words.set(line, `jump ${nftChainName(j.table, j.to)} comment "${j.comment}"`);
          return line;
        });
      (tables.get(b.type) as SavedTable).set(from, { name: from, policy: "ACCEPT", rules: lines });
    }
    iptables.set(family, tables);
  }
  return { snapshot: { ...snap, ipsets, iptables }, words, skipped };
}

/** A chain of a trace step in nftables' words: "nat"/"KUBE-SERVICES" → "services". */
export function nftStepChain(table: string, chain: string): string {
  if (!chain.startsWith("KUBE-")) return `${table}-${chain.toLowerCase()}`;
  try {
    return nftChainName(table as "nat" | "filter", chain);
  } catch {
    return chain;
  }
}

/** `value` with every string that is a key of `words` replaced (a trace in nftables' words). */
export function inNftWords<T>(value: T, words: ReadonlyMap<string, string>): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return words.get(v) ?? v;
    if (Array.isArray(v)) return v.map(walk);
    if (v instanceof Set) return new Set([...v].map(walk));
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}
