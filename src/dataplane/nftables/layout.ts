/**
 * kipvs's nftables layout: one table per family (`ip kipvs`, `ip6 kipvs`), an nft set for each
 * of kube-proxy's IPVS-mode ipsets and a chain for each of its KUBE-* chains, with base chains in
 * place of the built-in chains kube-proxy jumps from.
 *
 * Like kube-proxy's nftables mode (pkg/proxy/nftables: tables `ip kube-proxy` / `ip6 kube-proxy`,
 * base chains named "${type}-${hook}"), kipvs keeps one table per family rather than one `inet`
 * table: the planner already plans each family on its own, an address set has one address type,
 * and deleting one family's table (`cleanup`, a switch back) never touches the other's.
 *
 * Priorities differ from kube-proxy's nftables mode on purpose. Its filter chains run at
 * `dstnat - 10`, before its own DNAT. In IPVS mode the DNAT is IPVS itself, which hooks
 * LOCAL_IN and LOCAL_OUT after the filter table (NF_IP_PRI_NAT_SRC - 2 and NF_IP_PRI_NAT_DST + 2),
 * and kube-proxy's IPVS-mode rules sit in the iptables `filter` (priority 0) and `nat` (dstnat
 * -100, srcnat 100) tables. kipvs's base chains take exactly those priorities, so they meet
 * packets at the same point as the KUBE-* chains they replace, on the same side of IPVS and of
 * every other tool's rules at other priorities (at an equal priority, the kernel runs chains in
 * the order they were registered, as it does for iptables' tables).
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import { CHAIN, JUMP_RULES } from "../iptables/chains.ts";
import type { Table } from "../rules.ts";
import { KUBE_SETS, type SetBase } from "../ipset/sets.ts";

/** The name of kipvs's table in both families. */
export const NFT_TABLE = "kipvs";

/** The comment on the table, so `nft list ruleset` says whose it is. */
export const NFT_TABLE_COMMENT = "kipvs: kube-proxy IPVS-mode rules";

/** nft's family keyword of an address family. */
export function nftFamily(family: Family): "ip" | "ip6" {
  return family === 4 ? "ip" : "ip6";
}

/** The nft set that replaces one of kube-proxy's ipsets: "KUBE-CLUSTER-IP" → "cluster-ip". */
export function nftSetName(base: SetBase | string): string {
  return base.replace(/^KUBE-/, "").toLowerCase();
}

/**
 * The nft chain of one of kube-proxy's KUBE-* chains. The names follow kube-proxy's nftables
 * mode where it has the same chain ("services", "masquerading", "mark-for-masquerade"); the
 * filter table's KUBE-NODE-PORT, which holds only the health check node port rule, is
 * "health-check-node-port" so that it does not clash with the nat table's "node-port".
 */
const CHAIN_NAMES: Record<Table, Record<string, string>> = {
  nat: {
    [CHAIN.SERVICES]: "services",
    [CHAIN.POSTROUTING]: "masquerading",
    [CHAIN.NODE_PORT]: "node-port",
    [CHAIN.LOAD_BALANCER]: "load-balancer",
    [CHAIN.MARK_MASQ]: "mark-for-masquerade",
  },
  filter: {
    [CHAIN.FORWARD]: "forward",
    [CHAIN.NODE_PORT]: "health-check-node-port",
    [CHAIN.PROXY_FIREWALL]: "proxy-firewall",
    [CHAIN.SOURCE_RANGES_FIREWALL]: "source-ranges-firewall",
    [CHAIN.IPVS_FILTER]: "ipvs-filter",
    [CHAIN.IPVS_OUT_FILTER]: "ipvs-out-filter",
  },
};

/** The nft chain name of kube-proxy's chain `chain` in `table`. */
export function nftChainName(table: Table, chain: string): string {
  const name = CHAIN_NAMES[table][chain];
  if (name === undefined) throw new Error(`no nftables chain for ${table}/${chain}`);
  return name;
}

/** A base chain: where it hooks, and the regular chains it jumps to, in order. */
export interface BaseChain {
  name: string;
  type: "nat" | "filter";
  hook: "prerouting" | "input" | "forward" | "output" | "postrouting";
  /** As `nft list` prints it. */
  priority: string;
  jumps: { to: string; comment: string }[];
}

const PRIORITY: Record<string, string> = {
  "nat/PREROUTING": "dstnat",
  "nat/OUTPUT": "-100",
  "nat/POSTROUTING": "srcnat",
  "filter/INPUT": "filter",
  "filter/FORWARD": "filter",
  "filter/OUTPUT": "filter",
};

/**
 * The base chains, "${type}-${hook}" as kube-proxy's nftables mode names them, each holding the
 * jumps kube-proxy puts in the built-in chain of that name. kube-proxy inserts each jump at the
 * top of its chain, so a chain's jumps run in the reverse of JUMP_RULES' order.
 */
export function baseChains(): BaseChain[] {
  const out = new Map<string, BaseChain>();
  for (const j of JUMP_RULES) {
    const name = `${j.table}-${j.from.toLowerCase()}`;
    let b = out.get(name);
    if (b === undefined) {
      b = {
        name,
        type: j.table,
        hook: j.from.toLowerCase() as BaseChain["hook"],
        priority: PRIORITY[`${j.table}/${j.from}`] ?? "filter",
        jumps: [],
      } satisfies BaseChain;
      out.set(name, b);
    }
    b.jumps.unshift({ to: nftChainName(j.table, j.to), comment: j.comment });
  }
  return [...out.values()];
}

/** Every regular chain, in kube-proxy's order (nat's, then filter's). */
export function regularChains(): { table: Table; chain: string; name: string }[] {
  const out: { table: Table; chain: string; name: string }[] = [];
  for (const table of ["nat", "filter"] as const) {
    for (const [chain, name] of Object.entries(CHAIN_NAMES[table])) {
      out.push({ table, chain, name });
    }
  }
  return out;
}

/** Every set name, in kube-proxy's order of its ipsets. */
export function nftSetNames(): string[] {
  return KUBE_SETS.map((k) => nftSetName(k.base));
}
