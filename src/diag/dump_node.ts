/**
 * The node-wide sections of `kipvs dump`: kube-ipvs0's addresses with the services that want
 * them, the ipsets with their sizes (and, filtered by address, the entries naming it), and
 * kipvs's chains with their rule counts.
 *
 * @module
 */

import { isTyped, type SetMember } from "../dataplane/members.ts";
import { OWNED_CHAINS } from "../dataplane/iptables/chains.ts";
import { allKubeSetNames } from "../dataplane/ipset/spec.ts";
import type { Family } from "../net/family.ts";
import type { DesiredState } from "../plan/desired.ts";
import { compareAddresses } from "../plan/nodeports.ts";
import type { NodeSnapshot } from "./snapshot.ts";

/** One kube-ipvs0 address and the services that want it (with a source). */
export interface DumpAddress {
  address: string;
  services: string[];
}

/** One ipset's size; `matching` lists the entries that name the filtered address. */
export interface DumpSet {
  name: string;
  type: string;
  entries: number;
  /** One of kube-proxy's (and kipvs's) sets. */
  kube: boolean;
  matching?: string[];
}

/** One of kipvs's chains in the kernel. */
export interface DumpChain {
  family: Family;
  table: string;
  chain: string;
  rules: number;
}

/** The filters that apply to the node-wide sections. */
export interface SectionFilter {
  namespace?: string;
  service?: string;
  address?: string;
}

/** kube-ipvs0's addresses, each with the services that want it. */
export function dumpAddresses(
  snap: NodeSnapshot,
  desired: DesiredState | undefined,
  filter: SectionFilter,
): DumpAddress[] {
  const byAddress = new Map<string, Set<string>>();
  for (const vs of desired?.virtualServers.values() ?? []) {
    let s = byAddress.get(vs.address);
    if (!s) byAddress.set(vs.address, s = new Set());
    s.add(`${vs.owner.namespace}/${vs.owner.name}`);
  }
  const wanted = (svc: string) => {
    const [ns, name] = svc.split("/") as [string, string];
    if (filter.namespace !== undefined && ns !== filter.namespace) return false;
    if (filter.service === undefined) return true;
    return filter.service.includes("/") ? svc === filter.service : name === filter.service;
  };
  const filtering = filter.namespace !== undefined || filter.service !== undefined;
  return [...snap.addresses].sort(compareAddresses)
    .map((address) => ({ address, services: [...byAddress.get(address) ?? []].sort() }))
    .filter((a) => filter.address === undefined || a.address === filter.address)
    .filter((a) => !filtering || a.services.some(wanted));
}

/** Whether a member names `address` itself (a network holding it does not count). */
function names(m: SetMember, address: string): boolean {
  if (!isTyped(m)) return m.key.split(",").includes(address);
  const host = m.cidr2 === undefined || m.cidr2 === (address.includes(":") ? 128 : 32);
  return m.ip === address || (m.ip2 === address && host);
}

/** Every set with its size, kube-proxy's first in kube-proxy's order. */
export function dumpSets(snap: NodeSnapshot, address: string | undefined): DumpSet[] {
  const kube = new Set(allKubeSetNames());
  const out: DumpSet[] = [];
  for (const s of snap.ipsets.values()) {
    const row: DumpSet = {
      name: s.name,
      type: s.type,
      entries: s.members.size,
      kube: kube.has(s.name),
    };
    if (address !== undefined) {
      row.matching = [...s.members.values()].filter((m) => names(m, address)).map((m) => m.key)
        .sort();
    }
    out.push(row);
  }
  // kube-proxy's sets in kube-proxy's order (IPv4 first), then the others by name.
  const order = allKubeSetNames();
  const rank = (s: DumpSet) => s.kube ? order.indexOf(s.name) : order.length;
  return out.sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : 1));
}

/** kipvs's chains present in the kernel, with their rule counts. */
export function dumpChains(snap: NodeSnapshot): DumpChain[] {
  const out: DumpChain[] = [];
  for (const [family, tables] of snap.iptables) {
    for (const table of ["nat", "filter"] as const) {
      const saved = tables.get(table);
      for (const chain of OWNED_CHAINS[table]) {
        const c = saved?.get(chain);
        if (c) out.push({ family, table, chain, rules: c.rules.length });
      }
    }
  }
  return out;
}

/** One set of kipvs's nftables tables, with its element count. */
export interface DumpNftSet {
  /** "ip kipvs". */
  table: string;
  name: string;
  type: string;
  elements: number;
  /** The elements that name the filtered address (nft's text). */
  matching?: string[];
}

/** One chain of kipvs's nftables tables; `hook` for a base chain ("nat prerouting dstnat"). */
export interface DumpNftChain {
  table: string;
  name: string;
  hook?: string;
  rules: number;
}

/** kipvs's nftables sets and chains (the nftables rules backend), in the tables' order. */
export function dumpNft(
  snap: NodeSnapshot,
  address: string | undefined,
): { sets: DumpNftSet[]; chains: DumpNftChain[] } {
  const sets: DumpNftSet[] = [];
  const chains: DumpNftChain[] = [];
  for (const [family, t] of [...snap.nft].sort((a, b) => a[0] - b[0])) {
    const table = `${family === 4 ? "ip" : "ip6"} kipvs`;
    for (const s of t.sets) {
      const row: DumpNftSet = { table, name: s.name, type: s.type, elements: s.elements.length };
      if (address !== undefined) {
        row.matching = s.elements.filter((e) => e.split(" . ").includes(address)).sort();
      }
      sets.push(row);
    }
    for (const c of t.chains) {
      const hook = /^type (\S+) hook (\S+) priority ([^;]+);/.exec(c.header ?? "");
      chains.push({
        table,
        name: c.name,
        ...(hook ? { hook: `${hook[1]} ${hook[2]} ${hook[3]}` } : {}),
        rules: c.rules.length,
      });
    }
  }
  return { sets, chains };
}
