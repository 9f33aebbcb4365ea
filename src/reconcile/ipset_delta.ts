/**
 * The ipset writes for a few entries that may have changed, against the sets as the
 * last sync left them: the incremental path's counterpart of {@link planIpsetRestore}, whose
 * work is in proportion to the entries touched rather than to every entry of every set.
 *
 * @module
 */

import { canonicalEntry } from "../dataplane/ipset/entry.ts";
import type { IpsetOp } from "../dataplane/ipset/ops.ts";
import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import { setMismatch } from "./ipset_restore.ts";
import { setSpec } from "../dataplane/ipset/spec.ts";

/** An entry some plan change touched, in the plan's spelling. */
export interface TouchedEntry {
  set: string;
  entry: string;
}

/** Options of {@link planIpsetDelta}. */
export interface IpsetDeltaOptions {
  /** Kernel set name → entries the plan wants now (DesiredState.ipsets). */
  desired: ReadonlyMap<string, ReadonlySet<string>>;
  /** Entries added or removed by the plan changes since the last sync (duplicates allowed). */
  touched: Iterable<TouchedEntry>;
  /** The kernel's sets as the last sync left them. */
  current: IpsetSnapshot;
}

/** What {@link planIpsetDelta} decided. */
export interface IpsetDelta {
  /** The writes; none when the kernel already holds what the plan wants. */
  ops: IpsetOp[];
  added: number;
  deleted: number;
  /** Applies the delta to the snapshot it was planned against, once the ops were applied. */
  commit(): void;
}

/**
 * The add and del ops that make each touched entry's presence in the kernel match the plan.
 * Undefined when a touched set is missing from `current` or is not as kipvs creates it: then
 * only a full {@link planIpsetRestore} can repair it.
 */
export function planIpsetDelta(options: IpsetDeltaOptions): IpsetDelta | undefined {
  const ops: IpsetOp[] = [];
  const changes: { entries: Set<string>; entry: string; add: boolean }[] = [];
  const seen = new Set<string>();
  let added = 0;
  let deleted = 0;
  for (const t of options.touched) {
    const id = `${t.set} ${t.entry}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const spec = setSpec(t.set);
    const cur = options.current.get(t.set);
    if (!spec || !cur || setMismatch(cur, spec) !== undefined) return undefined;
    const entry = canonicalEntry(spec, t.entry);
    const want = options.desired.get(t.set)?.has(t.entry) ?? false;
    if (want === cur.entries.has(entry)) continue;
    ops.push({ op: want ? "add" : "del", set: t.set, entry });
    changes.push({ entries: cur.entries, entry, add: want });
    if (want) added++;
    else deleted++;
  }
  return {
    ops,
    added,
    deleted,
    commit() {
      for (const c of changes) {
        if (c.add) c.entries.add(c.entry);
        else c.entries.delete(c.entry);
      }
    },
  };
}
