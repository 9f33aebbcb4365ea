/**
 * kube-proxy's IPVS-mode rules for one family (its `writeIptablesRules`), rendered in the
 * normalised form `iptables-save` prints, so that a rendered chain and a saved chain compare
 * line by line. Which sets are non-empty decides which rules exist, as in kube-proxy.
 *
 * Normalisation measured with iptables 1.8.9 (legacy): address matches come first
 * (`! -s 10.244.0.0/16 -m comment ...`), host addresses get their prefix (`-s 203.0.113.10/32`),
 * `MARK --or-mark M` prints as `--set-xmark M/M` and `--xor-mark M` as `--set-xmark M/0x0`,
 * `REJECT` gets `--reject-with icmp-port-unreachable` (`icmp6-port-unreachable`), `-m ipvs`
 * prints `--vproto <number> --vaddr <ip> --vport <port>`, and comments with anything but
 * letters, digits, "_" and "-" are double-quoted with `"`, `'` and `\` escaped by a backslash.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type { Family } from "../net/family.ts";
import type { ProxyConfig } from "../config/config.ts";
import { parseCIDR } from "../net/ip.ts";
import { parseEntry } from "../dataplane/ipset/entry.ts";
import { KUBE_SETS, SET, type SetBase, setName } from "../dataplane/ipset/sets.ts";
import {
  CHAIN,
  JUMP_RULES,
  type JumpRule,
  OWNED_CHAINS,
  SET_RULES,
  type Table,
} from "../dataplane/iptables/chains.ts";

/** The owned chains of one table and their rules (whole `-A CHAIN ...` lines, in order). */
export interface TableRules {
  /** Owned chains in kube-proxy's order. */
  chains: readonly string[];
  /** Rules per owned chain; a chain without rules maps to []. */
  rules: Map<string, string[]>;
}

/** Everything kipvs wants in one family's iptables. */
export interface IptablesRules {
  family: Family;
  tables: Record<Table, TableRules>;
  /** Jump rules from the built-in chains, as `-A FROM ...` lines, in kube-proxy's order. */
  jumps: { rule: JumpRule; line: string }[];
}

/** Options of {@link renderIptables}. */
export interface RenderOptions {
  family: Family;
  config: Pick<ProxyConfig, "masqueradeAll" | "masqueradeBit" | "clusterCIDRs">;
  /** Kernel set name → entries (DesiredState.ipsets; sets of the other family are ignored). */
  ipsets: ReadonlyMap<string, ReadonlySet<string>>;
  /** Append `--random-fully` to the MASQUERADE rule (iptables >= 1.6.2); default true. */
  randomFully?: boolean;
}

/** A string as iptables-save prints it: bare when harmless, else double-quoted and escaped. */
export function saveQuote(s: string): string {
  return /^[A-Za-z0-9_-]+$/.test(s) ? s : `"${s.replace(/["'\\]/g, "\\$&")}"`;
}

/** The masquerade mark for `--masquerade-bit` ("0x4000" for 14). */
export function masqueradeMark(bit: number): string {
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) {
    throw new KipvsError("invalid-config", `invalid masqueradeBit ${bit}: must be 0..31`, {
      details: { field: "masqueradeBit", value: bit },
    });
  }
  return "0x" + (2 ** bit).toString(16);
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

const PROTO_NUMBER: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

const COMMENT = new Map(KUBE_SETS.map((k) => [k.base, k.comment]));

/** Renders one family's rules. */
export function renderIptables(options: RenderOptions): IptablesRules {
  const { family, config } = options;
  const name = (base: SetBase) => setName(base, family);
  const entries = (base: SetBase) => options.ipsets.get(name(base)) ?? new Set<string>();
  const nonEmpty = (base: SetBase) => entries(base).size > 0;
  const comment = (base: SetBase) => `-m comment --comment ${saveQuote(COMMENT.get(base)!)}`;
  const mark = masqueradeMark(config.masqueradeBit);
  const local = localCidr(config.clusterCIDRs, family);

  const tables: Record<Table, TableRules> = {
    nat: { chains: OWNED_CHAINS.nat, rules: new Map(OWNED_CHAINS.nat.map((c) => [c, []])) },
    filter: {
      chains: OWNED_CHAINS.filter,
      rules: new Map(OWNED_CHAINS.filter.map((c) => [c, []])),
    },
  };
  const add = (table: Table, chain: string, rest: string) =>
    tables[table].rules.get(chain)!.push(`-A ${chain} ${rest}`);
  const nat = (chain: string, rest: string) => add("nat", chain, rest);
  const filter = (chain: string, rest: string) => add("filter", chain, rest);

  nat(CHAIN.SERVICES, `-s ${family === 4 ? "127.0.0.0/8" : "::1/128"} -j RETURN`);

  for (const r of SET_RULES) {
    if (!nonEmpty(r.set)) continue;
    const proto = r.protocol ? `-p ${r.protocol} ` : "";
    add(
      r.table,
      r.from,
      `${proto}${comment(r.set)} -m set --match-set ${name(r.set)} ${r.match} -j ${r.to}`,
    );
  }

  if (nonEmpty(SET.CLUSTER_IP)) {
    const match = `${comment(SET.CLUSTER_IP)} -m set --match-set ${name(SET.CLUSTER_IP)}`;
    if (config.masqueradeAll) nat(CHAIN.SERVICES, `${match} dst,dst -j ${CHAIN.MARK_MASQ}`);
    else if (local) nat(CHAIN.SERVICES, `! -s ${local} ${match} dst,dst -j ${CHAIN.MARK_MASQ}`);
    // Without a detector: masquerade node-originated traffic that left with a VIP as source.
    else nat(CHAIN.SERVICES, `${match} src,dst -j ${CHAIN.MARK_MASQ}`);
  }

  const externalAccept = (base: SetBase) => {
    const match = `${comment(base)} -m set --match-set ${name(base)} dst,dst`;
    // From off the machine (not a bridge port, not a local source), or to a local address.
    nat(
      CHAIN.SERVICES,
      `${match} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`,
    );
    nat(CHAIN.SERVICES, `${match} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (nonEmpty(SET.EXTERNAL_IP)) {
    const ext = name(SET.EXTERNAL_IP);
    const masq = `-m set --match-set ${ext} dst,dst -j ${CHAIN.MARK_MASQ}`;
    nat(CHAIN.SERVICES, `${comment(SET.EXTERNAL_IP)} ${masq}`);
    externalAccept(SET.EXTERNAL_IP);
  }
  if (nonEmpty(SET.EXTERNAL_IP_LOCAL)) externalAccept(SET.EXTERNAL_IP_LOCAL);

  nat(CHAIN.SERVICES, `-m addrtype --dst-type LOCAL -j ${CHAIN.NODE_PORT}`);
  nat(CHAIN.LOAD_BALANCER, `-j ${CHAIN.MARK_MASQ}`);
  filter(CHAIN.SOURCE_RANGES_FIREWALL, "-j DROP");

  const host = family === 4 ? "/32" : "/128";
  for (const { ip, proto, port } of noNodeAccess(options)) {
    const vs = `--vproto ${PROTO_NUMBER[proto]} --vaddr ${ip} --vport ${port}`;
    filter(CHAIN.IPVS_OUT_FILTER, `-s ${ip}${host} -m ipvs ${vs} -j DROP`);
  }

  // Accept what IPVS serves, in case other rules would drop it (last in KUBE-SERVICES).
  for (const base of [SET.CLUSTER_IP, SET.LOAD_BALANCER] as const) {
    if (nonEmpty(base)) nat(CHAIN.SERVICES, `-m set --match-set ${name(base)} dst,dst -j ACCEPT`);
  }

  const markMatch = `-m mark --mark ${mark}/${mark}`;
  filter(
    CHAIN.FORWARD,
    `-m comment --comment "kubernetes forwarding rules" ${markMatch} -j ACCEPT`,
  );
  filter(
    CHAIN.FORWARD,
    `-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
  const hc = name(SET.HEALTH_CHECK_NODE_PORT);
  filter(
    CHAIN.NODE_PORT,
    `${comment(SET.HEALTH_CHECK_NODE_PORT)} -m set --match-set ${hc} dst -j ACCEPT`,
  );

  // Only service ports may be reached on kube-ipvs0's addresses (kubernetes#72236).
  for (const base of [SET.LOAD_BALANCER, SET.CLUSTER_IP, SET.EXTERNAL_IP, SET.EXTERNAL_IP_LOCAL]) {
    filter(CHAIN.IPVS_FILTER, `-m set --match-set ${name(base)} dst,dst -j RETURN`);
  }
  filter(CHAIN.IPVS_FILTER, `-m set --match-set ${hc} dst -j RETURN`);
  const reject = family === 4 ? "icmp-port-unreachable" : "icmp6-port-unreachable";
  filter(
    CHAIN.IPVS_FILTER,
    `-m conntrack --ctstate NEW -m set --match-set ${
      name(SET.IPVS_IPS)
    } dst -j REJECT --reject-with ${reject}`,
  );

  nat(CHAIN.POSTROUTING, `-m mark ! --mark ${mark}/${mark} -j RETURN`);
  nat(CHAIN.POSTROUTING, `-j MARK --set-xmark ${mark}/0x0`);
  const random = options.randomFully ?? true ? " --random-fully" : "";
  nat(
    CHAIN.POSTROUTING,
    `-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${random}`,
  );
  nat(CHAIN.MARK_MASQ, `-j MARK --set-xmark ${mark}/${mark}`);

  const jumps = JUMP_RULES.map((rule) => ({
    rule,
    line: `-A ${rule.from} -m comment --comment ${saveQuote(rule.comment)} -j ${rule.to}`,
  }));
  return { family, tables, jumps };
}

/**
 * Load balancer IP:ports with source ranges that the node itself may not reach: those in
 * KUBE-LOAD-BALANCER-FW without the `ip,proto:port,ip` entry kube-proxy adds to
 * KUBE-LOAD-BALANCER-SOURCE-IP when a source range holds the node's IP. Sorted.
 */
function noNodeAccess(options: RenderOptions): { ip: string; proto: string; port: number }[] {
  const get = (base: SetBase) => options.ipsets.get(setName(base, options.family)) ?? new Set();
  const allowed = new Set<string>();
  for (const e of get(SET.LOAD_BALANCER_SOURCE_IP)) {
    const p = parseEntry("hash:ip,port,ip", options.family, e);
    if (p.entry) allowed.add(p.entry.slice(0, p.entry.lastIndexOf(",")));
  }
  const out: { ip: string; proto: string; port: number }[] = [];
  for (const e of [...get(SET.LOAD_BALANCER_FW)].sort()) {
    const p = parseEntry("hash:ip,port", options.family, e);
    if (!p.entry || allowed.has(p.entry)) continue;
    const [ip, pp] = p.entry.split(",") as [string, string];
    const [proto, port] = pp.split(":") as [string, string];
    out.push({ ip, proto, port: Number(port) });
  }
  return out;
}

/**
 * The whole rule set as one `iptables-restore --noflush` payload, as kube-proxy writes it:
 * every owned chain declared (which empties it) and refilled. Jump rules are not in it (they
 * are ensured separately). For `kipvs dump` and golden tests.
 */
export function rulesPayload(rules: IptablesRules): string {
  const out: string[] = [];
  for (const table of ["nat", "filter"] as const) {
    const t = rules.tables[table];
    out.push(`*${table}`, ...t.chains.map((c) => `:${c} - [0:0]`));
    for (const c of t.chains) out.push(...t.rules.get(c)!);
    out.push("COMMIT");
  }
  return out.join("\n") + "\n";
}
