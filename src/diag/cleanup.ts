/**
 * `kipvs cleanup`: remove what kipvs, or kube-proxy in IPVS mode (same names), programmed on a
 * node, in kube-proxy's order: the virtual servers, kube-ipvs0, the chains and the rules that
 * jump into them, and last the ipsets (the kernel refuses to destroy a set a rule still
 * matches, so no rule is ever left pointing at a missing set). Left alone: firewall-mark
 * virtual servers and those inside --ipvs-exclude-cidrs, other tools' sets and chains, and a
 * kube-proxy set some other rule still uses. kube-ipvs0 goes whole, as kube-proxy deletes it
 * (the exclusion protects virtual servers, not addresses). Running it again finds nothing to
 * remove.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { destroyOps, kubeSetsIn } from "../dataplane/ipset/cleanup.ts";
import type { Ipset } from "../dataplane/ipset/ipset.ts";
import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import type { Table } from "../dataplane/iptables/chains.ts";
import { iptablesCleanupPayload } from "../dataplane/iptables/cleanup.ts";
import type { Iptables } from "../dataplane/iptables/iptables.ts";
import { LOCALNET_CHAIN } from "../dataplane/iptables/localnet.ts";
import type { IptablesSnapshot } from "../dataplane/iptables/save.ts";
import { serviceKeyText } from "../dataplane/ipvs/describe.ts";
import type { Ipvs, ServiceKey } from "../dataplane/ipvs/types.ts";
import { isFwmarkKey } from "../dataplane/ipvs/types.ts";
import type { DummyLink } from "../dataplane/link/types.ts";
import { ERRNO } from "../dataplane/netlink/errno.ts";
import type { Family } from "../net/family.ts";
import type { Nftables } from "../dataplane/nftables/nftables.ts";
import { NFT_TABLE, nftFamily } from "../dataplane/nftables/layout.ts";
import { LOCALNET_TABLE } from "../dataplane/nftables/localnet.ts";
import { excludedBy } from "./diff.ts";
import type { NodeSnapshot } from "./snapshot.ts";

/** One family's iptables cleanup. */
export interface IptablesCleanup {
  family: Family;
  /** `iptables-restore --noflush` input; "" when nothing of ours is there. */
  payload: string;
  /** "nat/KUBE-SERVICES". */
  chains: string[];
  /** The jump rules deleted, as saved. */
  jumps: string[];
  /** The same, short: "nat/PREROUTING -> KUBE-SERVICES". */
  jumpNames: string[];
}

/** What a cleanup removes and what it leaves. */
export interface CleanupPlan {
  virtualServers: { key: ServiceKey; text: string }[];
  keptVirtualServers: { text: string; why: string }[];
  /** Delete kube-ipvs0 (a dummy link of that name), or there is none. */
  link: "delete" | "none";
  /** Its addresses, which go with it. */
  addresses: string[];
  iptables: IptablesCleanup[];
  /** kube-proxy's sets to destroy, after the rules. */
  sets: string[];
  /** Families whose `kipvs` nftables table goes (the nftables rules backend), whole. */
  nftTables: Family[];
  /**
   * `ip kipvs-localnet` (the nftables localnet guard of `kipvs sysctl --localhost-nodeports`)
   * goes too, as filter/KUBE-FIREWALL does when it holds nothing but the guard.
   */
  nftLocalnet?: boolean;
}

/** Options of {@link planCleanup}. */
export interface CleanupPlanOptions {
  snapshot: NodeSnapshot;
  excludeCIDRs: readonly string[];
}

// The guard rule `kipvs sysctl --localhost-nodeports` (and kube-proxy) puts in filter/KUBE-FIREWALL.
const LOCALNET_COMMENT = '"block incoming localnet connections"';

/**
 * Chains removed besides the owned ones: nat/KUBE-FIREWALL (older kube-proxy IPVS mode's load
 * balancer source-range chain) and filter/KUBE-FIREWALL when it holds nothing but the localnet
 * guard (kubelet's older KUBE-FIREWALL with its mark-drop rule stays).
 */
export function extraChains(current: IptablesSnapshot): { table: Table; chain: string }[] {
  const out: { table: Table; chain: string }[] = [{ table: "nat", chain: LOCALNET_CHAIN }];
  const fw = current.get("filter")?.get(LOCALNET_CHAIN);
  if (fw && fw.rules.length > 0 && fw.rules.every((r) => r.includes(LOCALNET_COMMENT))) {
    out.push({ table: "filter", chain: LOCALNET_CHAIN });
  }
  return out;
}

/** Plans the cleanup of what `snapshot` shows (read with both families). */
export function planCleanup(o: CleanupPlanOptions): CleanupPlan {
  const snap = o.snapshot;
  const excluded = excludedBy(o.excludeCIDRs);
  const plan: CleanupPlan = {
    virtualServers: [],
    keptVirtualServers: [],
    link: "none",
    addresses: [],
    iptables: [],
    sets: kubeSetsIn(snap.ipsets),
    nftTables: [...snap.nft.keys()],
  };
  for (const e of snap.ipvs) {
    const text = serviceKeyText(e.key);
    if (isFwmarkKey(e.key)) {
      plan.keptVirtualServers.push({ text, why: "firewall mark: not kipvs's" });
    } else if (excluded(e.key.address)) {
      plan.keptVirtualServers.push({ text, why: "inside --ipvs-exclude-cidrs" });
    } else plan.virtualServers.push({ key: e.key, text });
  }
  if (snap.link?.kind === "dummy") {
    plan.link = "delete";
    plan.addresses = [...snap.addresses];
  }
  for (const [family, current] of snap.iptables) {
    const p = iptablesCleanupPayload(current, { extraChains: extraChains(current) });
    if (p.payload !== "") {
      plan.iptables.push({ family, ...p, jumpNames: jumpNames(current, p.jumps) });
    }
  }
  return plan;
}

/** "nat/PREROUTING -> KUBE-SERVICES" for each saved jump rule. */
function jumpNames(current: IptablesSnapshot, rules: readonly string[]): string[] {
  return rules.map((rule) => {
    const from = rule.split(" ")[1] ?? "?";
    const to = / -[jg] (\S+)/.exec(rule)?.[1] ?? "?";
    const table = [...current].find(([, t]) => t.get(from)?.rules.includes(rule))?.[0] ?? "?";
    return `${table}/${from} -> ${to}`;
  });
}

/** Whether a plan removes nothing. */
export function planIsEmpty(p: CleanupPlan): boolean {
  return p.virtualServers.length === 0 && p.link === "none" && p.iptables.length === 0 &&
    p.sets.length === 0 && p.nftTables.length === 0 && !p.nftLocalnet;
}

/**
 * The sets that rules (or list:set sets) still use, with one user each: these cannot be
 * destroyed and are left.
 */
export function setsInUse(
  iptables: Iterable<IptablesSnapshot>,
  ipsets: IpsetSnapshot,
): Map<string, string> {
  const used = new Map<string, string>();
  for (const snap of iptables) {
    for (const [table, chains] of snap) {
      for (const chain of chains.values()) {
        for (const rule of chain.rules) {
          for (const m of rule.matchAll(/--match-set (\S+) /g)) {
            if (!used.has(m[1]!)) used.set(m[1]!, `rule in ${table}: ${rule}`);
          }
        }
      }
    }
  }
  for (const s of ipsets.values()) {
    if (!s.type.startsWith("list:")) continue;
    // A list:set's members are set names: kipvs does not type them, their key is the name.
    for (const member of s.members.keys()) {
      if (!used.has(member)) used.set(member, `list:set ${s.name}`);
    }
  }
  return used;
}

/** What the kernel facilities are, for {@link applyCleanup}; IPVS or link may be absent. */
export interface CleanupDeps {
  /** Undefined when the kernel has no IPVS (nothing to remove there). */
  ipvs?: Ipvs;
  link?: Pick<DummyLink, "name" | "delete">;
  ipset: Ipset;
  iptables: Iptables;
  nftables?: Pick<Nftables, "deleteTables">;
}

/** What a cleanup did. */
export interface CleanupResult {
  virtualServers: string[];
  linkDeleted: boolean;
  addresses: string[];
  /** "IPv4 nat/KUBE-SERVICES". */
  chains: string[];
  /** "IPv4 nat/PREROUTING -> KUBE-SERVICES". */
  jumps: string[];
  sets: string[];
  /** kipvs's nftables tables removed ("ip kipvs", "ip6 kipvs"). */
  nftTables: string[];
  /** Sets left because something still uses them, with the user. */
  keptSets: { name: string; usedBy: string }[];
  errors: string[];
}

/** Applies a plan in order; failures are collected and the later steps still run. */
export async function applyCleanup(plan: CleanupPlan, deps: CleanupDeps): Promise<CleanupResult> {
  const r: CleanupResult = {
    virtualServers: [],
    linkDeleted: false,
    addresses: [],
    chains: [],
    jumps: [],
    sets: [],
    nftTables: [],
    keptSets: [],
    errors: [],
  };
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      r.errors.push(`${what}: ${describeError(err)}`);
    }
  };
  if (deps.ipvs && plan.virtualServers.length > 0) {
    const ipvs = deps.ipvs;
    await attempt("IPVS", async () => {
      const ops = plan.virtualServers.map((v) => ({ op: "delete-service" as const, key: v.key }));
      const results = await ipvs.apply(ops);
      results.forEach((res, i) => {
        const text = plan.virtualServers[i]!.text;
        if (res.ok || res.errno === ERRNO.ESRCH) r.virtualServers.push(text);
        else r.errors.push(res.error.message);
      });
    });
  }
  if (deps.link && plan.link !== "none") {
    const link = deps.link;
    await attempt(`link ${link.name}`, async () => {
      r.linkDeleted = await link.delete();
      if (r.linkDeleted) r.addresses.push(...plan.addresses);
    });
  }
  for (const p of plan.iptables) {
    await attempt(`iptables (IPv${p.family})`, async () => {
      await deps.iptables.restore(p.family, p.payload);
      r.chains.push(...p.chains.map((c) => `IPv${p.family} ${c}`));
      r.jumps.push(...p.jumpNames.map((j) => `IPv${p.family} ${j}`));
    });
  }
  if (deps.nftables && (plan.nftTables.length > 0 || plan.nftLocalnet)) {
    const nft = deps.nftables;
    await attempt("nftables", async () => {
      await nft.deleteTables(plan.nftTables);
      r.nftTables.push(...plan.nftTables.map(nftTableName));
      if (plan.nftLocalnet) {
        await nft.deleteTables([4], LOCALNET_TABLE);
        r.nftTables.push(`ip ${LOCALNET_TABLE}`);
      }
    });
  }
  if (plan.sets.length > 0) await attempt("ipset", () => destroySets(plan, deps, r));
  return r;
}

/** Destroys the plan's sets that no rule uses any more; the others are kept and reported. */
async function destroySets(plan: CleanupPlan, deps: CleanupDeps, r: CleanupResult): Promise<void> {
  const rules: IptablesSnapshot[] = [];
  for (const f of [4, 6] as const) rules.push(await deps.iptables.save(f));
  const used = setsInUse(rules, await deps.ipset.save());
  const free = plan.sets.filter((s) => !used.has(s));
  for (const s of plan.sets) {
    if (used.has(s)) r.keptSets.push({ name: s, usedBy: used.get(s)! });
  }
  if (free.length > 0) await deps.ipset.apply(destroyOps(free));
  r.sets.push(...free);
}

/** What {@link applyCleanup} would report for `plan`, without writing (`--dry-run`). */
export function dryRunResult(plan: CleanupPlan, snapshot: NodeSnapshot): CleanupResult {
  const after: IptablesSnapshot[] = [];
  for (const [family, current] of snapshot.iptables) {
    const p = plan.iptables.find((x) => x.family === family);
    const gone = new Set(p?.chains ?? []);
    const jumps = new Set(p?.jumps ?? []);
    const copy: IptablesSnapshot = new Map();
    for (const [table, chains] of current) {
      const t = new Map();
      for (const [name, c] of chains) {
        if (gone.has(`${table}/${name}`)) continue;
        t.set(name, { ...c, rules: c.rules.filter((r) => !jumps.has(r)) });
      }
      copy.set(table, t);
    }
    after.push(copy);
  }
  const used = setsInUse(after, snapshot.ipsets);
  return {
    virtualServers: plan.virtualServers.map((v) => v.text),
    linkDeleted: plan.link === "delete",
    addresses: plan.addresses,
    chains: plan.iptables.flatMap((p) => p.chains.map((c) => `IPv${p.family} ${c}`)),
    jumps: plan.iptables.flatMap((p) => p.jumpNames.map((j) => `IPv${p.family} ${j}`)),
    sets: plan.sets.filter((s) => !used.has(s)),
    nftTables: [
      ...plan.nftTables.map(nftTableName),
      ...(plan.nftLocalnet ? [`ip ${LOCALNET_TABLE}`] : []),
    ],
    keptSets: plan.sets.filter((s) => used.has(s)).map((name) => ({
      name,
      usedBy: used.get(name)!,
    })),
    errors: [],
  };
}

function nftTableName(f: Family): string {
  return `${nftFamily(f)} ${NFT_TABLE}`;
}
