/**
 * The nftables rules reconciler (`--rules-backend nftables`): kipvs's tables `ip kipvs` and
 * `ip6 kipvs` hold exactly the planned sets (kube-proxy's ipsets, as nft sets) and chains
 * (kube-proxy's KUBE-* chains, from the same typed rules the iptables backend renders). Sets and
 * rules are one backend here, so one reconciler takes both.
 *
 * A full sync reads each family's table (`nft list table`), compares it with the rendered one
 * and writes the differences, both families in one `nft -f` script: one atomic transaction, so
 * no packet ever sees half a sync. Nothing differs, nothing is written. A table holding what
 * kipvs cannot patch in place (a set of another type, a base chain on another hook, a map) is
 * deleted and declared again inside the same transaction.
 *
 * An incremental sync writes the elements its changes touched over netlink, in batches that
 * the kernel applies as transactions (no process), and runs `nft` only when the rules changed
 * (which sets are empty decides which rules exist, as in kube-proxy's IPVS mode).
 *
 * kube-proxy's nftables mode writes every sync as one transaction through knftables (the `nft`
 * program) and element changes too; kipvs keeps nft for the rules, which change rarely, and
 * moves the elements, which every endpoint change touches, to netlink.
 *
 * @module
 */

import type { ProxyConfig } from "../config/config.ts";
import type { SetMember } from "../dataplane/members.ts";
import type { ElementOp } from "../dataplane/nftables/netlink.ts";
import type { Nftables } from "../dataplane/nftables/nftables.ts";
import type { ParsedNftTable } from "../dataplane/nftables/parse.ts";
import {
  elementText,
  intervalMembers,
  type NftChain,
  type NftSet,
  type NftTable,
  renderNftables,
} from "../dataplane/nftables/render.ts";
import { nftSetName } from "../dataplane/nftables/layout.ts";
import { setSpec } from "../dataplane/ipset/spec.ts";
import type { Family } from "../net/family.ts";
import type { DesiredState, IpsetEntry } from "../plan/desired.ts";
import { planRules } from "../plan/rules.ts";
import type { Reconciler, SyncScope, Write } from "./reconciler.ts";
import { nftScript } from "./nftables_script.ts";

/** Options of {@link NftablesReconciler}. */
export interface NftablesReconcilerOptions {
  nftables: Nftables;
  config: Pick<ProxyConfig, "masqueradeAll" | "masqueradeBit" | "clusterCIDRs">;
}

/** What kipvs believes one family's table holds: elements by set (with members), chains. */
interface Held {
  sets: Map<string, Map<string, SetMember | undefined>>;
  chains: Map<string, readonly string[]>;
}

/** Reconciles kipvs's nftables tables. */
export class NftablesReconciler implements Reconciler {
  readonly name = "rules";
  readonly phase = "sets" as const;
  #o: NftablesReconcilerOptions;
  #held = new Map<Family, Held>();
  /** The last full sync's script ("" when nothing differed), for tests and tools. */
  lastScript = "";

  constructor(options: NftablesReconcilerOptions) {
    this.#o = options;
  }

  update(scope: SyncScope): Promise<Write[] | undefined> {
    if (scope.changes) {
      if (scope.changes.entries.length === 0) return Promise.resolve(undefined);
      if (scope.desired.families.every((f) => this.#held.has(f))) {
        return this.#incremental(scope, scope.changes.entries);
      }
    }
    return this.#full(scope);
  }

  /** On a full sync, deletes the tables of families no longer planned. */
  async prune(scope: SyncScope): Promise<Write[]> {
    if (scope.changes) return [];
    const gone = ([4, 6] as const).filter((f) => !scope.desired.families.includes(f));
    const del: Family[] = [];
    for (const f of gone) if (await this.#o.nftables.hasTable(f)) del.push(f);
    await this.#o.nftables.deleteTables(del);
    return del.map((f) => ({ kind: "rule", action: "delete", object: `${f}/table kipvs` }));
  }

  reset(): void {
    this.#held.clear();
  }

  #render(desired: Pick<DesiredState, "ipsets">, family: Family): NftTable {
    const rules = planRules({ family, config: this.#o.config, ipsets: desired.ipsets });
    return renderNftables({ rules, sets: desired.ipsets });
  }

  async #full(scope: SyncScope): Promise<Write[]> {
    this.#held.clear();
    const parts: string[] = [];
    const writes: Write[] = [];
    const wanted = new Map<Family, NftTable>();
    for (const family of scope.desired.families) {
      const want = this.#render(scope.desired, family);
      wanted.set(family, want);
      const held = await this.#o.nftables.read(family);
      const s = nftScript(want, held);
      if (s.script !== "") parts.push(s.script);
      scope.report.ipsetEntries += s.elements;
      if (scope.record) writes.push(...s.writes);
    }
    this.lastScript = parts.join("");
    if (this.lastScript !== "") {
      await this.#o.nftables.run(this.lastScript);
      scope.report.iptablesRestores++;
    }
    for (const [family, want] of wanted) this.#held.set(family, heldOf(want));
    return writes;
  }

  async #incremental(scope: SyncScope, entries: readonly IpsetEntry[]): Promise<Write[]> {
    const ops = this.#elementOps(scope.desired, entries);
    if (ops.length > 0) {
      await this.#o.nftables.applyElements(ops);
      scope.report.ipsetRestores++;
      scope.report.ipsetEntries += ops.length;
      for (const op of ops) {
        const set = this.#held.get(op.family)!.sets.get(op.set)!;
        const text = elementText(op.type, op.member);
        if (op.op === "add") set.set(text, op.member);
        else set.delete(text);
      }
    }
    const writes: Write[] = scope.record ? ops.map(elementWrite) : [];
    // Rules: rewritten only when which sets are empty (or the out-filter's entries) changed.
    const changed: NftTable[] = [];
    for (const family of scope.desired.families) {
      const want = this.#render(scope.desired, family);
      const held = this.#held.get(family)!;
      const chains = want.chains.filter((c) => !sameRules(held.chains.get(c.name), c.rules));
      if (chains.length > 0) changed.push({ family, sets: [], chains });
    }
    if (changed.length > 0) {
      const script = changed.map((t) => nftScript(t, this.#parsedHeld(t.family), true).script)
        .join("");
      await this.#o.nftables.run(script);
      scope.report.iptablesRestores++;
      for (const t of changed) {
        for (const c of t.chains) this.#held.get(t.family)!.chains.set(c.name, c.rules);
        if (scope.record) {
          for (const c of t.chains) {
            writes.push({
              kind: "rule",
              action: "update",
              object: `${t.family}/${c.name}`,
              planned: true,
            });
          }
        }
      }
    }
    return writes;
  }

  /** What is held of a family's chains, in the parsed form nftScript compares with. */
  #parsedHeld(family: Family): ParsedNftTable {
    const held = this.#held.get(family)!;
    return {
      family,
      sets: [],
      chains: [...held.chains].map(([name, rules]) => ({ name, rules: [...rules] })),
      unknown: [],
    };
  }

  /** The element ops that take the touched entries from what is held to what is planned. */
  #elementOps(desired: DesiredState, entries: readonly IpsetEntry[]): ElementOp[] {
    const ops: ElementOp[] = [];
    const intervals = new Set<string>();
    const seen = new Set<string>();
    for (const e of entries) {
      const spec = setSpec(e.set);
      if (!spec || !desired.families.includes(spec.family)) continue;
      if (spec.type === "hash:ip,port,net") {
        intervals.add(e.set);
        continue;
      }
      const id = `${e.set} ${e.member.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const set = nftSetName(spec.kube.base);
      const held = this.#held.get(spec.family)!.sets.get(set)!;
      const want = desired.ipsets.get(e.set)?.has(e.member.key) ?? false;
      const has = held.has(elementText(spec.type, e.member));
      if (want === has) continue;
      ops.push({
        op: want ? "add" : "delete",
        family: spec.family,
        set,
        type: spec.type,
        member: e.member,
      });
    }
    for (const name of intervals) {
      const spec = setSpec(name)!;
      const set = nftSetName(spec.kube.base);
      const held = this.#held.get(spec.family)!.sets.get(set)!;
      const want = new Map(
        intervalMembers(desired.ipsets.get(name)?.values() ?? []).map((
          m,
        ) => [elementText(spec.type, m), m]),
      );
      for (const [text, m] of held) {
        if (want.has(text)) continue;
        // Held since a full sync that read it from nft: no member to encode; the next full sync
        // removes it.
        if (m) ops.push({ op: "delete", family: spec.family, set, type: spec.type, member: m });
      }
      for (const [text, m] of want) {
        if (!held.has(text)) {
          ops.push({ op: "add", family: spec.family, set, type: spec.type, member: m });
        }
      }
    }
    return ops;
  }
}

function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);
}

/** What a table holds once `want` was written. */
function heldOf(want: NftTable): Held {
  const sets = new Map<string, Map<string, SetMember | undefined>>();
  for (const s of want.sets) {
    sets.set(s.name, new Map(s.elements.map((e, i) => [e, s.members?.[i]])));
  }
  return { sets, chains: new Map(want.chains.map((c: NftChain) => [c.name, c.rules])) };
}

function elementWrite(op: ElementOp): Write {
  return {
    kind: "ipset",
    action: op.op === "add" ? "add" : "delete",
    object: `${op.family}/${op.set} ${op.member.key}`,
    parent: `${op.family}/${op.set}`,
  };
}

export type { NftSet };
