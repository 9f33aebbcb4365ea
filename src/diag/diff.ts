/**
 * `kipvs dump --diff`: what a full sync would change on this node, computed with the proxier's
 * own comparisons (`diffVirtualServer` for each virtual server, the kube-ipvs0 address sets,
 * `planIpsetRestore`, `renderIptables` + `planIptablesRestore` per family) over one
 * {@link NodeSnapshot}, with the proxier's scope (address virtual servers of the planned
 * families; those inside --ipvs-exclude-cidrs left alone unless planned; every kube-ipvs0
 * address the plan does not want). Nothing is written.
 *
 * @module
 */

import { planIpsetRestore } from "../reconcile/ipset_restore.ts";
import { planIptablesRestore } from "../reconcile/iptables_diff.ts";
import { planRules } from "../plan/rules.ts";
import { renderIptables } from "../dataplane/iptables/render.ts";
import { OWNED_CHAINS } from "../dataplane/iptables/chains.ts";
import { kubeSetsIn } from "../dataplane/ipset/cleanup.ts";
import { renderNftables } from "../dataplane/nftables/render.ts";
import { nftScript } from "../reconcile/nftables_script.ts";
import type { RulesBackend } from "../config/config.ts";
import { destinationText, opText } from "../dataplane/ipvs/describe.ts";
import type { IpvsOp, ServiceEntry } from "../dataplane/ipvs/types.ts";
import { type CIDR, cidrContains, parseCIDR, parseIP } from "../net/ip.ts";
import type { ProxyConfig } from "../config/config.ts";
import type { DesiredState } from "../plan/desired.ts";
import { diffVirtualServer, kernelServiceKey, parseServiceKey } from "../reconcile/ipvs.ts";
import { portRefText } from "./owners.ts";
import type { NodeSnapshot } from "./snapshot.ts";

/** One IPVS operation a sync would apply. */
export interface IpvsChange {
  op: IpvsOp;
  /** "add destination 10.244.1.2:8080 to TCP/10.96.0.10:80". */
  text: string;
  /** The service port that wants it ("default/web:http"); absent for a removal. */
  service?: string;
}

/** A real server a sync leaves draining (weight 0, connections still open). */
export interface DrainingServer {
  virtualServer: string;
  realServer: string;
  connections: number;
}

/** One owned chain a sync would rewrite, with the rules it gains and loses. */
export interface ChainChange {
  table: string;
  chain: string;
  added: string[];
  removed: string[];
  /** Same rules, another order (only order-sensitive chains are rewritten for it). */
  reordered: boolean;
}

/** What a full sync would change. */
export interface NodeDiff {
  inSync: boolean;
  /** How many changes in all (operations, addresses, set entries, sets, chains, jumps). */
  changes: number;
  /** kube-ipvs0 does not exist and would be created. */
  createLink: boolean;
  ipvs: IpvsChange[];
  draining: DrainingServer[];
  addresses: { add: string[]; remove: string[] };
  ipsets: {
    create: string[];
    recreate: string[];
    add: { set: string; entry: string }[];
    del: { set: string; entry: string }[];
  };
  iptables: { family: 4 | 6; chains: ChainChange[]; jumps: string[] }[];
  /** The rules backend compared: the flag's, or the one the node holds (kipvs's nft tables). */
  rulesBackend: RulesBackend;
  /** nftables mode: per family, the nft statements a sync would run (nftables_script.ts). */
  nft: { family: 4 | 6; statements: string[] }[];
  /** The other rules backend's objects a sync would remove (KUBE-* sets and chains, tables). */
  leftovers: string[];
}

/** Options of {@link diffNode}. */
export interface DiffOptions {
  desired: DesiredState;
  snapshot: NodeSnapshot;
  config: Pick<
    ProxyConfig,
    "families" | "excludeCIDRs" | "masqueradeAll" | "masqueradeBit" | "clusterCIDRs"
  >;
  /** Whether iptables takes MASQUERADE --random-fully (Iptables.hasRandomFully()). */
  randomFully: boolean;
  /** The rules backend to compare with; default: nftables when the node holds kipvs's tables. */
  rulesBackend?: RulesBackend;
}

/** A predicate for "inside --ipvs-exclude-cidrs". */
export function excludedBy(cidrs: readonly string[]): (address: string) => boolean {
  const parsed: CIDR[] = cidrs.flatMap((c) => parseCIDR(c) ?? []);
  return (address) => {
    const ip = parseIP(address);
    return ip !== undefined && parsed.some((c) => cidrContains(c, ip));
  };
}

/** Computes what a full sync of `desired` would change on the node `snapshot` shows. */
export function diffNode(options: DiffOptions): NodeDiff {
  const { desired, snapshot: snap } = options;
  const out: NodeDiff = {
    inSync: true,
    changes: 0,
    createLink: snap.link === undefined,
    ipvs: [],
    draining: [],
    addresses: { add: [], remove: [] },
    ipsets: { create: [], recreate: [], add: [], del: [] },
    iptables: [],
    rulesBackend: options.rulesBackend ?? (snap.nft.size > 0 ? "nftables" : "iptables"),
    nft: [],
    leftovers: [],
  };
  diffIpvs(options, out);
  const bound = new Set(snap.addresses);
  out.addresses.add = [...desired.addresses].filter((a) => !bound.has(a)).sort();
  // Like the proxier (and kube-proxy): every unwanted address goes; --ipvs-exclude-cidrs
  // protects virtual servers only.
  out.addresses.remove = [...bound].filter((a) => !desired.addresses.has(a)).sort();
  if (out.rulesBackend === "nftables") diffNft(options, out);
  else {
    diffSets(options, out);
    diffRules(options, out);
    out.leftovers = [...snap.nft.keys()].map((f) => `table ${f === 4 ? "ip" : "ip6"} kipvs`);
  }
  out.changes = out.ipvs.length + (out.createLink ? 1 : 0) + out.addresses.add.length +
    out.addresses.remove.length + out.ipsets.create.length + out.ipsets.recreate.length +
    out.ipsets.add.length + out.ipsets.del.length +
    out.iptables.reduce((n, f) => n + f.chains.length + f.jumps.length, 0) +
    out.nft.reduce((n, f) => n + f.statements.length, 0) + out.leftovers.length;
  out.inSync = out.changes === 0;
  return out;
}

/** IPVS, as the IPVS reconciler's full sync scopes it. */
function diffIpvs(options: DiffOptions, out: NodeDiff): void {
  const { desired, snapshot: snap, config } = options;
  const excluded = excludedBy(config.excludeCIDRs);
  const observed = new Map<string, ServiceEntry>();
  for (const e of snap.ipvs) {
    const k = kernelServiceKey(e.key);
    if (k && config.families.includes(e.key.family)) observed.set(k, e);
  }
  const keys = [...new Set([...desired.virtualServers.keys(), ...observed.keys()])].sort();
  for (const k of keys) {
    const want = desired.virtualServers.get(k);
    const have = observed.get(k);
    if (!want && have && excluded(parseServiceKey(k).address)) continue;
    const d = diffVirtualServer(want, have);
    const service = want ? portRefText(want.owner) : undefined;
    for (const op of d.ops) {
      out.ipvs.push({ op, text: opText(op), ...(service ? { service } : {}) });
    }
    for (const dr of d.draining) {
      out.draining.push({
        virtualServer: k,
        realServer: destinationText(dr.destination),
        connections: dr.destination.activeConnections + dr.destination.inactiveConnections,
      });
    }
  }
}

/** nftables mode: the statements a full sync would run, and iptables mode's leftovers. */
function diffNft(options: DiffOptions, out: NodeDiff): void {
  const { desired, snapshot: snap, config } = options;
  for (const family of desired.families) {
    const rules = planRules({ family, config, ipsets: desired.ipsets });
    const want = renderNftables({ rules, sets: desired.ipsets });
    const s = nftScript(want, snap.nft.get(family));
    if (s.script !== "") out.nft.push({ family, statements: s.script.trimEnd().split("\n") });
  }
  out.leftovers = kubeSetsIn(snap.ipsets);
  for (const [family, tables] of snap.iptables) {
    for (const [table, chains] of tables) {
      for (const c of chains.keys()) {
        if (OWNED_CHAINS[table as "nat" | "filter"]?.includes(c)) {
          out.leftovers.push(`IPv${family} ${table}/${c}`);
        }
      }
    }
  }
}

function diffSets(options: DiffOptions, out: NodeDiff): void {
  const sets = planIpsetRestore({
    desired: options.desired.ipsets,
    families: options.desired.families,
    current: options.snapshot.ipsets,
  });
  out.ipsets.create = sets.created;
  out.ipsets.recreate = sets.recreated;
  for (const op of sets.ops) {
    if (op.op === "add" || op.op === "del") {
      out.ipsets[op.op].push({ set: op.set, entry: op.member.key });
    }
  }
}

function diffRules(options: DiffOptions, out: NodeDiff): void {
  const { desired, snapshot: snap, config } = options;
  for (const family of desired.families) {
    const rules = renderIptables(planRules({
      family,
      config,
      ipsets: desired.ipsets,
      randomFully: options.randomFully,
    }));
    const current = snap.iptables.get(family) ?? new Map();
    const plan = planIptablesRestore({ desired: rules, current });
    if (plan.payload === "") continue;
    const chains: ChainChange[] = plan.chains.map((tc) => {
      const [table, chain] = tc.split("/") as ["nat" | "filter", string];
      const want = rules.tables[table].rules.get(chain) ?? [];
      const have = current.get(table)?.get(chain)?.rules ?? [];
      const added = without(want, have);
      const removed = without(have, want);
      return { table, chain, added, removed, reordered: added.length + removed.length === 0 };
    });
    out.iptables.push({ family, chains, jumps: plan.jumps });
  }
}

/** The lines of `a` not in `b`, counting duplicates. */
function without(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const l of b) left.set(l, (left.get(l) ?? 0) + 1);
  const out: string[] = [];
  for (const l of a) {
    const n = left.get(l) ?? 0;
    if (n > 0) left.set(l, n - 1);
    else out.push(l);
  }
  return out;
}
