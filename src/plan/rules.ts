/**
 * kube-proxy's IPVS-mode rules for one family (its `writeIptablesRules`), as typed data
 * (dataplane/rules.ts) that any rules backend renders: iptables/render.ts to the text
 * `iptables-save` prints. Which sets are non-empty decides which rules exist, as in kube-proxy.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type { Family } from "../net/family.ts";
import type { ProxyConfig } from "../config/config.ts";
import { parseCIDR } from "../net/ip.ts";
import type { ReadonlySetMembers } from "../dataplane/members.ts";
import { KUBE_SETS, SET, type SetBase, setName } from "../dataplane/ipset/sets.ts";
import { CHAIN, JUMP_RULES, OWNED_CHAINS, SET_RULES } from "../dataplane/iptables/chains.ts";
import type {
  Match,
  RuleProtocol,
  RuleSet,
  SetDirections,
  Table,
  TableRuleSet,
  Verdict,
} from "../dataplane/rules.ts";

/** Options of {@link planRules}. */
export interface RulesOptions {
  family: Family;
  config: Pick<ProxyConfig, "masqueradeAll" | "masqueradeBit" | "clusterCIDRs">;
  /** Kernel set name → members (DesiredState.ipsets; sets of the other family are ignored). */
  ipsets: ReadonlyMap<string, ReadonlySetMembers>;
  /** MASQUERADE with fully random source ports (iptables >= 1.6.2); default true. */
  randomFully?: boolean;
}

/** The masquerade mark for `--masquerade-bit` (0x4000 for 14). */
export function masqueradeMark(bit: number): number {
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) {
    throw new KipvsError("invalid-config", `invalid masqueradeBit ${bit}: must be 0..31`, {
      details: { field: "masqueradeBit", value: bit },
    });
  }
  return 2 ** bit;
}

/** The `! -s CIDR` local-traffic detector of a family: its first cluster CIDR, or none. */
export function localCidr(clusterCIDRs: readonly string[], family: Family): string | undefined {
  for (const c of clusterCIDRs) {
    const canon = parseCIDR(c)?.text;
    if (canon === undefined) {
      throw new KipvsError("invalid-config", `invalid clusterCIDR "${c}": not a CIDR`, {
        details: { field: "clusterCIDRs", value: c },
      });
    }
    if (canon.includes(":") === (family === 6)) return canon;
  }
  return undefined;
}

const COMMENT = new Map(KUBE_SETS.map((k) => [k.base, k.comment]));
const NO_MEMBERS: ReadonlySetMembers = new Map();

/** Builds one family's rules: the helpers every part of {@link planRules} writes through. */
class RulesBuilder {
  readonly tables: Record<Table, TableRuleSet>;
  readonly mark: number;
  readonly local: string | undefined;

  constructor(readonly o: RulesOptions) {
    const table = (t: Table): TableRuleSet => ({
      chains: OWNED_CHAINS[t],
      rules: new Map(OWNED_CHAINS[t].map((c) => [c, []])),
    });
    this.tables = { nat: table("nat"), filter: table("filter") };
    this.mark = masqueradeMark(o.config.masqueradeBit);
    this.local = localCidr(o.config.clusterCIDRs, o.family);
  }

  name(base: SetBase): string {
    return setName(base, this.o.family);
  }
  entries(base: SetBase): ReadonlySetMembers {
    return this.o.ipsets.get(this.name(base)) ?? NO_MEMBERS;
  }
  nonEmpty(base: SetBase): boolean {
    return this.entries(base).size > 0;
  }
  comment(base: SetBase): Match {
    return { kind: "comment", text: COMMENT.get(base)! };
  }
  set(base: SetBase, directions: SetDirections): Match {
    return { kind: "set", set: this.name(base), directions };
  }
  add(table: Table, chain: string, matches: Match[], verdict: Verdict): void {
    this.tables[table].rules.get(chain)!.push({ chain, matches, verdict });
  }
  nat(chain: string, matches: Match[], verdict: Verdict): void {
    this.add("nat", chain, matches, verdict);
  }
  filter(chain: string, matches: Match[], verdict: Verdict): void {
    this.add("filter", chain, matches, verdict);
  }
}

const ACCEPT: Verdict = { kind: "accept" };
const RETURN: Verdict = { kind: "return" };
/** A jump to `chain`; RETURN and MASQUERADE (kube-proxy's set rules name them as targets). */
function jump(chain: string): Verdict {
  if (chain === "RETURN") return RETURN;
  if (chain === "MASQUERADE") return { kind: "masquerade", randomFully: false };
  return { kind: "jump", chain };
}

/** One family's rules, as data. */
export function planRules(options: RulesOptions): RuleSet {
  const b = new RulesBuilder(options);
  const loopback = options.family === 4 ? "127.0.0.0/8" : "::1/128";
  b.nat(CHAIN.SERVICES, [{ kind: "source", cidr: loopback }], RETURN);
  setRules(b);
  clusterIpMasquerade(b);
  externalIpRules(b);
  b.nat(CHAIN.SERVICES, [{ kind: "local", address: "destination" }], jump(CHAIN.NODE_PORT));
  b.nat(CHAIN.LOAD_BALANCER, [], jump(CHAIN.MARK_MASQ));
  b.filter(CHAIN.SOURCE_RANGES_FIREWALL, [], { kind: "drop" });
  for (const { ip, proto, port } of noNodeAccess(options)) {
    b.filter(CHAIN.IPVS_OUT_FILTER, [
      { kind: "source", cidr: ip },
      { kind: "ipvs", protocol: proto, address: ip, port },
    ], { kind: "drop" });
  }
  // Accept what IPVS serves, in case other rules would drop it (last in KUBE-SERVICES).
  for (const base of [SET.CLUSTER_IP, SET.LOAD_BALANCER] as const) {
    if (b.nonEmpty(base)) b.nat(CHAIN.SERVICES, [b.set(base, "dst,dst")], ACCEPT);
  }
  filterRules(b);
  postroutingRules(b);
  return { family: options.family, tables: b.tables, jumps: JUMP_RULES };
}

/** kube-proxy's `ipsetWithIptablesChain`: one rule per non-empty set. */
function setRules(b: RulesBuilder): void {
  for (const r of SET_RULES) {
    if (!b.nonEmpty(r.set)) continue;
    const proto: Match[] = r.protocol ? [{ kind: "protocol", protocol: r.protocol }] : [];
    b.add(r.table, r.from, [...proto, b.comment(r.set), b.set(r.set, r.match)], jump(r.to));
  }
}

/** Traffic to cluster IPs marked for masquerade, by the local-traffic detector. */
function clusterIpMasquerade(b: RulesBuilder): void {
  if (!b.nonEmpty(SET.CLUSTER_IP)) return;
  const comment = b.comment(SET.CLUSTER_IP);
  const masq = jump(CHAIN.MARK_MASQ);
  if (b.o.config.masqueradeAll) {
    b.nat(CHAIN.SERVICES, [comment, b.set(SET.CLUSTER_IP, "dst,dst")], masq);
  } else if (b.local) {
    const notLocal: Match = { kind: "source", cidr: b.local, negate: true };
    b.nat(CHAIN.SERVICES, [notLocal, comment, b.set(SET.CLUSTER_IP, "dst,dst")], masq);
  } else {
    // Without a detector: masquerade node-originated traffic that left with a VIP as source.
    b.nat(CHAIN.SERVICES, [comment, b.set(SET.CLUSTER_IP, "src,dst")], masq);
  }
}

/** External IPs: masqueraded (unless Local), accepted from off the node or to a local address. */
function externalIpRules(b: RulesBuilder): void {
  const accept = (base: SetBase) => {
    const match = [b.comment(base), b.set(base, "dst,dst")];
    // From off the machine (not a bridge port, not a local source), or to a local address.
    b.nat(CHAIN.SERVICES, [
      ...match,
      { kind: "bridged", negate: true },
      { kind: "local", address: "source", negate: true },
    ], ACCEPT);
    b.nat(CHAIN.SERVICES, [...match, { kind: "local", address: "destination" }], ACCEPT);
  };
  if (b.nonEmpty(SET.EXTERNAL_IP)) {
    const match = [b.comment(SET.EXTERNAL_IP), b.set(SET.EXTERNAL_IP, "dst,dst")];
    b.nat(CHAIN.SERVICES, match, jump(CHAIN.MARK_MASQ));
    accept(SET.EXTERNAL_IP);
  }
  if (b.nonEmpty(SET.EXTERNAL_IP_LOCAL)) accept(SET.EXTERNAL_IP_LOCAL);
}

/** The filter table: forwarding, health check node ports, kube-ipvs0's access filter. */
function filterRules(b: RulesBuilder): void {
  b.filter(CHAIN.FORWARD, [
    { kind: "comment", text: "kubernetes forwarding rules" },
    { kind: "mark", value: b.mark, mask: b.mark },
  ], ACCEPT);
  b.filter(CHAIN.FORWARD, [
    { kind: "comment", text: "kubernetes forwarding conntrack rule" },
    { kind: "ctstate", states: ["RELATED", "ESTABLISHED"] },
  ], ACCEPT);
  const hc = SET.HEALTH_CHECK_NODE_PORT;
  b.filter(CHAIN.NODE_PORT, [b.comment(hc), b.set(hc, "dst")], ACCEPT);
  // Only service ports may be reached on kube-ipvs0's addresses (kubernetes#72236).
  for (const base of [SET.LOAD_BALANCER, SET.CLUSTER_IP, SET.EXTERNAL_IP, SET.EXTERNAL_IP_LOCAL]) {
    b.filter(CHAIN.IPVS_FILTER, [b.set(base, "dst,dst")], RETURN);
  }
  b.filter(CHAIN.IPVS_FILTER, [b.set(hc, "dst")], RETURN);
  b.filter(CHAIN.IPVS_FILTER, [
    { kind: "ctstate", states: ["NEW"] },
    b.set(SET.IPVS_IPS, "dst"),
  ], { kind: "reject" });
}

/** KUBE-POSTROUTING masquerades marked traffic; KUBE-MARK-MASQ marks it. */
function postroutingRules(b: RulesBuilder): void {
  const mark = b.mark;
  b.nat(CHAIN.POSTROUTING, [{ kind: "mark", value: mark, mask: mark, negate: true }], RETURN);
  b.nat(CHAIN.POSTROUTING, [], { kind: "set-mark", value: mark, mask: 0 });
  b.nat(
    CHAIN.POSTROUTING,
    [{ kind: "comment", text: "kubernetes service traffic requiring SNAT" }],
    { kind: "masquerade", randomFully: b.o.randomFully ?? true },
  );
  b.nat(CHAIN.MARK_MASQ, [], { kind: "set-mark", value: mark, mask: mark });
}

/**
 * Load balancer IP:ports with source ranges that the node itself may not reach: those in
 * KUBE-LOAD-BALANCER-FW without the `ip,proto:port,ip` entry kube-proxy adds to
 * KUBE-LOAD-BALANCER-SOURCE-IP when a source range holds the node's IP. Sorted.
 */
function noNodeAccess(
  options: RulesOptions,
): { ip: string; proto: RuleProtocol; port: number }[] {
  const get = (base: SetBase) => options.ipsets.get(setName(base, options.family)) ?? NO_MEMBERS;
  const allowed = new Set<string>();
  for (const m of get(SET.LOAD_BALANCER_SOURCE_IP).values()) {
    allowed.add(`${m.ip},${m.protocol}:${m.port}`);
  }
  const out: { ip: string; proto: RuleProtocol; port: number }[] = [];
  for (const key of [...get(SET.LOAD_BALANCER_FW).keys()].sort()) {
    const m = get(SET.LOAD_BALANCER_FW).get(key)!;
    if (allowed.has(key) || m.ip === undefined || !m.protocol || m.port === undefined) continue;
    out.push({ ip: m.ip, proto: m.protocol, port: m.port });
  }
  return out;
}
