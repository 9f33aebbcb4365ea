/**
 * The nft script that takes one family's kipvs table from what the kernel holds to what the
 * plan wants: nothing when they match; the whole table declared when there is none (or when it
 * holds what cannot be patched in place, deleted first in the same transaction); else only the
 * missing sets and chains, the elements that differ, and the chains whose rules differ
 * (flushed and refilled). Sets are written before the rules that look them up, deletions of
 * elements before additions (an interval set refuses an overlapping network), unwanted
 * chains and sets last.
 *
 * @module
 */

import { NFT_TABLE, NFT_TABLE_COMMENT, nftFamily } from "../dataplane/nftables/layout.ts";
import type { ParsedNftTable } from "../dataplane/nftables/parse.ts";
import type { NftChain, NftSet, NftTable } from "../dataplane/nftables/render.ts";
import type { Write } from "./reconciler.ts";

/** A script and what it writes. */
export interface NftScript {
  /** nft input; "" when nothing differs. */
  script: string;
  /** Elements added or deleted. */
  elements: number;
  writes: Write[];
}

function setBody(s: NftSet): string {
  const flags = s.interval ? " flags interval;" : "";
  return `{ type ${s.type};${flags} comment "${s.comment}"; }`;
}

function chainBody(c: NftChain): string {
  return c.header ? `{ ${c.header} }` : "";
}

/** The whole table, declared from nothing. */
export function declareTable(t: NftTable): string {
  const ref = `${nftFamily(t.family)} ${NFT_TABLE}`;
  const out = [`add table ${ref} { comment "${NFT_TABLE_COMMENT}"; }`];
  for (const s of t.sets) {
    out.push(`add set ${ref} ${s.name} ${setBody(s)}`);
    if (s.elements.length > 0) {
      out.push(`add element ${ref} ${s.name} { ${s.elements.join(", ")} }`);
    }
  }
  for (const c of t.chains) out.push(`add chain ${ref} ${c.name} ${chainBody(c)}`.trimEnd());
  for (const c of t.chains) for (const r of c.rules) out.push(`add rule ${ref} ${c.name} ${r}`);
  return out.join("\n") + "\n";
}

/** Whether `held` holds something kipvs cannot bring to `want` in place. */
function mustRecreate(want: NftTable, held: ParsedNftTable): boolean {
  if (held.unknown.length > 0) return true;
  const sets = new Map(held.sets.map((s) => [s.name, s]));
  for (const s of want.sets) {
    const h = sets.get(s.name);
    if (h && (h.type !== s.type || h.interval !== s.interval)) return true;
  }
  const chains = new Map(held.chains.map((c) => [c.name, c]));
  for (const c of want.chains) {
    const h = chains.get(c.name);
    if (h && h.header !== c.header) return true;
  }
  return false;
}

/**
 * The script from `held` (undefined: no table) to `want`. With `rulesOnly`, `want` lists only
 * the chains to rewrite and sets are left alone.
 */
export function nftScript(want: NftTable, held?: ParsedNftTable, rulesOnly = false): NftScript {
  const fam = want.family;
  const ref = `${nftFamily(fam)} ${NFT_TABLE}`;
  const count = (t: NftTable) => t.sets.reduce((n, s) => n + s.elements.length, 0);
  if (!held || (!rulesOnly && mustRecreate(want, held))) {
    const drop = held ? `delete table ${ref}\n` : "";
    return {
      script: drop + declareTable(want),
      elements: count(want),
      writes: [{ kind: "rule", action: held ? "update" : "add", object: `${fam}/table kipvs` }],
    };
  }
  const out: string[] = [];
  const writes: Write[] = [];
  let elements = 0;
  if (!rulesOnly) elements = setChanges(want, held, ref, out, writes);
  const heldChains = new Map(held.chains.map((c) => [c.name, c]));
  for (const c of want.chains) {
    if (!heldChains.has(c.name)) out.push(`add chain ${ref} ${c.name} ${chainBody(c)}`.trimEnd());
  }
  for (const c of want.chains) {
    const h = heldChains.get(c.name);
    if (h && same(h.rules, c.rules)) continue;
    if (h) out.push(`flush chain ${ref} ${c.name}`);
    for (const r of c.rules) out.push(`add rule ${ref} ${c.name} ${r}`);
    writes.push({ kind: "rule", action: h ? "update" : "add", object: `${fam}/${c.name}` });
  }
  if (!rulesOnly) {
    const wanted = new Set(want.chains.map((c) => c.name));
    const extra = held.chains.filter((c) => !wanted.has(c.name));
    for (const c of extra) out.push(`flush chain ${ref} ${c.name}`);
    for (const c of extra) {
      out.push(`delete chain ${ref} ${c.name}`);
      writes.push({ kind: "rule", action: "delete", object: `${fam}/${c.name}` });
    }
    const sets = new Set(want.sets.map((s) => s.name));
    for (const s of held.sets.filter((s) => !sets.has(s.name))) {
      out.push(`delete set ${ref} ${s.name}`);
      writes.push({ kind: "ipset", action: "delete", object: `${fam}/${s.name}` });
    }
  }
  return { script: out.length ? out.join("\n") + "\n" : "", elements, writes };
}

/** Appends the set and element changes; returns the elements added and deleted. */
function setChanges(
  want: NftTable,
  held: ParsedNftTable,
  ref: string,
  out: string[],
  writes: Write[],
): number {
  const fam = want.family;
  const heldSets = new Map(held.sets.map((s) => [s.name, s]));
  let n = 0;
  const adds: string[] = [];
  for (const s of want.sets) {
    const h = heldSets.get(s.name);
    if (!h) {
      out.push(`add set ${ref} ${s.name} ${setBody(s)}`);
      writes.push({ kind: "ipset", action: "add", object: `${fam}/${s.name}` });
    }
    const have = new Set(h?.elements ?? []);
    const wantSet = new Set(s.elements);
    const del = [...have].filter((e) => !wantSet.has(e));
    const add = s.elements.filter((e) => !have.has(e));
    if (del.length > 0) out.push(`delete element ${ref} ${s.name} { ${del.join(", ")} }`);
    if (add.length > 0) adds.push(`add element ${ref} ${s.name} { ${add.join(", ")} }`);
    n += del.length + add.length;
    for (const e of del) {
      writes.push({
        kind: "ipset",
        action: "delete",
        object: `${fam}/${s.name} ${e}`,
        parent: `${fam}/${s.name}`,
      });
    }
    for (const e of add) {
      writes.push({
        kind: "ipset",
        action: "add",
        object: `${fam}/${s.name} ${e}`,
        parent: `${fam}/${s.name}`,
      });
    }
  }
  out.push(...adds);
  return n;
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}
