/**
 * Typed rules (../rules.ts) and set members (../members.ts) rendered as kipvs's nftables table,
 * in exactly the text `nft list table` prints (nft 1.0.6 on Linux 6.12), so that what a sync
 * wants and what the kernel holds compare line by line, and the golden tests' hand-written
 * `nft list ruleset` output is what this renders.
 *
 * What nft prints, and so what this writes:
 * - `-p tcp` followed by a port-only set match is one expression: `tcp dport @node-port-tcp`.
 * - kube-proxy's ipset matches become concatenated lookups: hash:ip,port "dst,dst" is
 *   `ip daddr . meta l4proto . th dport @set` (the lookup kube-proxy's nftables mode uses for
 *   its service maps), hash:ip,port,ip "dst,dst,src" adds `. ip saddr`.
 * - hash:ip,port,net (load balancer source CIDRs) is an interval set (`flags interval`, the
 *   kernel's pipapo set type). Its lookup uses `ip protocol` (IPv6: `ip6 nexthdr`) instead of
 *   `meta l4proto`: with Linux 6.12 and nft 1.0.6 a `meta l4proto` inside a concatenated interval
 *   lookup is refused with EOPNOTSUPP (checked in the test kernel). For IPv6 this reads the
 *   first next header: a packet with extension headers to a load balancer with source ranges
 *   does not match the allow set and is dropped, which fails closed.
 * - `-m physdev --physdev-is-in` (came in through a bridge port) has no match in the ip and ip6
 *   families; with br_netfilter such a packet reaches the ip hooks with the bridge as its input
 *   interface, so kipvs matches `meta iifkind "bridge"`. kube-proxy's nftables mode has no
 *   physdev rule at all (its external IP rules test only `fib saddr type local`).
 * - `-m addrtype --dst-type LOCAL` is `fib daddr type local` (kube-proxy's nftables mode too).
 * - `-m ipvs --vaddr A --vport P --vproto tcp` (KUBE-IPVS-OUT-FILTER) has no nftables match;
 *   IPVS with `net.ipv4.vs.conntrack=1` keeps the connection's original tuple in conntrack, so
 *   kipvs matches `meta l4proto tcp ct original ip daddr A ct original proto-dst P`.
 * - marks print as 8 hex digits: `meta mark set meta mark | 0x00004000`.
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import type { ReadonlySetMembers, SetMember } from "../members.ts";
import { KUBE_SETS, setName, type SetType } from "../ipset/sets.ts";
import { setSpec } from "../ipset/spec.ts";
import type { Match, Rule, RuleSet, Table, Verdict } from "../rules.ts";
import {
  baseChains,
  NFT_TABLE,
  NFT_TABLE_COMMENT,
  nftChainName,
  nftFamily,
  nftSetName,
  regularChains,
} from "./layout.ts";
import { type CIDR, cidrContains, parseCIDR } from "../../net/ip.ts";

/** One nft set as `nft list` prints its declaration. */
export interface NftSet {
  name: string;
  /** "ipv4_addr . inet_proto . inet_service". */
  type: string;
  interval: boolean;
  comment: string;
  /** Element texts as nft prints them (unordered: nft prints hash sets in hash order). */
  elements: string[];
  /** The member of each element, when rendered from the plan (not when read from nft). */
  members?: SetMember[];
}

/** One chain: a base chain's header line, and its rules as nft prints them. */
export interface NftChain {
  name: string;
  /** "type nat hook prerouting priority dstnat; policy accept;" for a base chain. */
  header?: string;
  rules: string[];
}

/** One family's table as kipvs wants it. */
export interface NftTable {
  family: Family;
  sets: NftSet[];
  chains: NftChain[];
}

/** nft's data type of a set of `type` in `family`. */
export function nftSetType(type: SetType, family: Family): string {
  const addr = family === 4 ? "ipv4_addr" : "ipv6_addr";
  switch (type) {
    case "hash:ip":
      return addr;
    case "hash:ip,port":
      return `${addr} . inet_proto . inet_service`;
    case "hash:ip,port,ip":
    case "hash:ip,port,net":
      return `${addr} . inet_proto . inet_service . ${addr}`;
    case "bitmap:port":
      return "inet_service";
  }
}

/** A member as an nft element: "10.96.0.1 . tcp . 443", "30080", "... . 10.0.0.0/8". */
export function elementText(type: SetType, m: SetMember): string {
  switch (type) {
    case "hash:ip":
      return m.ip!;
    case "hash:ip,port":
      return `${m.ip} . ${m.protocol} . ${m.port}`;
    case "hash:ip,port,ip":
      return `${m.ip} . ${m.protocol} . ${m.port} . ${m.ip2}`;
    case "hash:ip,port,net": {
      const host = m.ip2!.includes(":") ? 128 : 32;
      const net = m.cidr2 === undefined || m.cidr2 === host ? m.ip2 : `${m.ip2}/${m.cidr2}`;
      return `${m.ip} . ${m.protocol} . ${m.port} . ${net}`;
    }
    case "bitmap:port":
      return String(m.port);
  }
}

/**
 * The members an interval set can hold: the kernel refuses overlapping intervals (EEXIST), where
 * ipset's hash:ip,port,net holds both 10.0.0.0/8 and 10.1.0.0/16. A network inside another of
 * the same ip, protocol and port matches nothing the wider one does not, so it is left out.
 */
export function intervalMembers(members: Iterable<SetMember>): SetMember[] {
  const groups = new Map<string, { m: SetMember; c: CIDR }[]>();
  for (const m of members) {
    const c = parseCIDR(`${m.ip2}/${m.cidr2 ?? (m.ip2!.includes(":") ? 128 : 32)}`);
    if (!c) continue;
    const k = `${m.ip},${m.protocol}:${m.port}`;
    const g = groups.get(k);
    if (g) g.push({ m, c });
    else groups.set(k, [{ m, c }]);
  }
  const out: SetMember[] = [];
  for (const g of groups.values()) {
    for (const a of g) {
      // Covered by a wider network, or by an equal one listed first.
      const covered = g.some((b) =>
        b !== a && b.c.family === a.c.family && b.c.prefix <= a.c.prefix &&
        cidrContains(b.c, a.c) && (b.c.prefix < a.c.prefix || b.m.key < a.m.key)
      );
      if (!covered) out.push(a.m);
    }
  }
  return out;
}

/** The elements of a set of `type` for `members`, as nft prints them. */
export function elementsOf(type: SetType, members: Iterable<SetMember>): string[] {
  const list = type === "hash:ip,port,net" ? intervalMembers(members) : [...members];
  return list.map((m) => elementText(type, m));
}

/** Options of {@link renderNftables}. */
export interface NftRenderOptions {
  /** The planned rules of one family (plan/rules.ts). */
  rules: RuleSet;
  /** Kernel set name → members (DesiredState.ipsets; the other family's are ignored). */
  sets: ReadonlyMap<string, ReadonlySetMembers>;
}

/** One family's table: every set (empty or not), the base chains and the planned chains. */
export function renderNftables(o: NftRenderOptions): NftTable {
  const family = o.rules.family;
  const sets: NftSet[] = KUBE_SETS.map((k) => {
    const all = o.sets.get(setName(k.base, family))?.values() ?? [];
    const members = k.type === "hash:ip,port,net" ? intervalMembers(all) : [...all];
    return {
      name: nftSetName(k.base),
      type: nftSetType(k.type, family),
      interval: k.type === "hash:ip,port,net",
      comment: k.comment,
      elements: members.map((m) => elementText(k.type, m)),
      members,
    };
  });
  const chains: NftChain[] = baseChains().map((b) => ({
    name: b.name,
    header: `type ${b.type} hook ${b.hook} priority ${b.priority}; policy accept;`,
    rules: b.jumps.map((j) => `jump ${j.to} comment ${quote(j.comment)}`),
  }));
  for (const c of regularChains()) {
    const rules = o.rules.tables[c.table].rules.get(c.chain) ?? [];
    chains.push({ name: c.name, rules: rules.map((r) => renderNftRule(r, c.table, family)) });
  }
  return { family, sets, chains };
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, "")}"`;
}

function ipKw(family: Family): string {
  return family === 4 ? "ip" : "ip6";
}

/** A CIDR as nft prints an address match: a host without its prefix. */
function addrText(cidr: string): string {
  return cidr.replace(/\/(32|128)$/, "");
}

/** A set lookup, from the set's type and kube-proxy's ipset directions. */
function setLookup(m: Extract<Match, { kind: "set" }>, family: Family, proto?: string): string {
  const spec = setSpec(m.set);
  if (!spec) throw new Error(`no nftables set for ${m.set}`);
  const ip = ipKw(family);
  const name = "@" + nftSetName(spec.kube.base);
  const dirs = m.directions.split(",");
  const addr = (d: string | undefined) => `${ip} ${d === "src" ? "saddr" : "daddr"}`;
  switch (spec.type) {
    case "bitmap:port":
      return `${proto ?? "th"} dport ${name}`;
    case "hash:ip":
      return `${addr(dirs[0])} ${name}`;
    case "hash:ip,port":
      return `${addr(dirs[0])} . meta l4proto . th dport ${name}`;
    case "hash:ip,port,ip":
      return `${addr(dirs[0])} . meta l4proto . th dport . ${addr(dirs[2])} ${name}`;
    case "hash:ip,port,net": {
      const l4 = family === 4 ? "ip protocol" : "ip6 nexthdr";
      return `${addr(dirs[0])} . ${l4} . th dport . ${addr(dirs[2])} ${name}`;
    }
  }
}

function hex8(n: number): string {
  return "0x" + n.toString(16).padStart(8, "0");
}

function renderMatch(m: Match, family: Family): string | undefined {
  const ne = "negate" in m && m.negate ? "!= " : "";
  switch (m.kind) {
    case "source":
      return `${ipKw(family)} saddr ${ne}${addrText(m.cidr)}`;
    case "protocol":
      return `meta l4proto ${m.protocol}`;
    case "comment":
      return undefined;
    case "set":
      return setLookup(m, family);
    case "bridged":
      return `meta iifkind ${ne}"bridge"`;
    case "local":
      return `fib ${m.address === "source" ? "saddr" : "daddr"} type ${ne}local`;
    case "mark":
      return `meta mark & ${hex8(m.mask)} ${ne ? "!=" : "=="} ${hex8(m.value)}`;
    case "ctstate":
      return `ct state ${ctStates(m.states)}`;
    case "ipvs":
      return `meta l4proto ${m.protocol} ct original ${ipKw(family)} daddr ${m.address} ` +
        `ct original proto-dst ${m.port}`;
  }
}

/** nft prints ct states in its bit order: new, established, related. */
function ctStates(states: readonly string[]): string {
  return ["NEW", "ESTABLISHED", "RELATED"].filter((s) => states.includes(s as never))
    .map((s) => s.toLowerCase()).join(",");
}

function renderVerdict(v: Verdict, table: Table): string {
  switch (v.kind) {
    case "jump":
      return `jump ${nftChainName(table, v.chain)}`;
    case "accept":
    case "drop":
    case "return":
      return v.kind;
    case "reject":
      return "reject";
    case "masquerade":
      return v.randomFully ? "masquerade fully-random" : "masquerade";
    case "set-mark":
      if (v.mask === 0) return `meta mark set meta mark ^ ${hex8(v.value)}`;
      if (v.mask === v.value) return `meta mark set meta mark | ${hex8(v.value)}`;
      return `meta mark set meta mark & ${hex8(~v.mask >>> 0)} ^ ${hex8(v.value)}`;
  }
}

/** One rule as `nft list` prints it: matches in kube-proxy's order, the comment last. */
export function renderNftRule(rule: Rule, table: Table, family: Family): string {
  const words: string[] = [];
  const ms = rule.matches;
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    // `-p tcp` then a port set: nft folds the protocol into the port match ("tcp dport @s").
    if (m.kind === "protocol") {
      const next = ms.slice(i + 1).find((x) => x.kind === "set");
      if (next?.kind === "set" && setSpec(next.set)?.type === "bitmap:port") continue;
    }
    if (m.kind === "set" && setSpec(m.set)?.type === "bitmap:port") {
      const p = ms.find((x) => x.kind === "protocol");
      words.push(setLookup(m, family, p?.kind === "protocol" ? p.protocol : undefined));
      continue;
    }
    const text = renderMatch(m, family);
    if (text !== undefined) words.push(text);
  }
  words.push(renderVerdict(rule.verdict, table));
  const comment = ms.find((m) => m.kind === "comment");
  if (comment?.kind === "comment") words.push(`comment ${quote(comment.text)}`);
  return words.join(" ");
}

/** The table's declaration line: "table ip kipvs". */
export function tableRef(family: Family): string {
  return `${nftFamily(family)} ${NFT_TABLE}`;
}

/**
 * The table as `nft list table` prints it, elements in the order given (a golden test sorts
 * both sides' elements; nft prints a hash set's in hash order).
 */
export function listText(t: NftTable): string {
  const out = [`table ${tableRef(t.family)} {`, `\tcomment ${quote(NFT_TABLE_COMMENT)}`];
  const blocks: string[][] = [];
  for (const s of t.sets) {
    const b = [`\tset ${s.name} {`, `\t\ttype ${s.type}`];
    if (s.interval) b.push("\t\tflags interval");
    b.push(`\t\tcomment ${quote(s.comment)}`);
    if (s.elements.length > 0) b.push(`\t\telements = { ${s.elements.join(", ")} }`);
    b.push("\t}");
    blocks.push(b);
  }
  for (const c of t.chains) {
    const b = [`\tchain ${c.name} {`];
    if (c.header) b.push(`\t\t${c.header}`);
    for (const r of c.rules) b.push(`\t\t${r}`);
    b.push("\t}");
    blocks.push(b);
  }
  blocks.forEach((b, i) => {
    if (i > 0) out.push("");
    out.push(...b);
  });
  out.push("}");
  return out.join("\n") + "\n";
}
