/**
 * The ipset writes for a few entries that may have changed, against the sets as the
 * last sync left them: the incremental path's counterpart of {@link planIpsetRestore}, whose
 * work is in proportion to the entries touched rather than to every entry of every set.
 *
 * @module
 */

import type { ReadonlySetMembers, SetMember, SetMembers } from "../dataplane/members.ts";
import type { IpsetOp } from "../dataplane/ipset/ops.ts";
import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import { setMismatch } from "./ipset_restore.ts";
import { setSpec } from "../dataplane/ipset/spec.ts";

/** A member some plan change touched. */
export interface TouchedEntry {
  set: string;
  member: SetMember;
}

/** Options of {@link planIpsetDelta}. */
export interface IpsetDeltaOptions {
  /** Kernel set name → members the plan wants now (DesiredState.ipsets). */
  desired: ReadonlyMap<string, ReadonlySetMembers>;
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
  const changes: { members: SetMembers; member: SetMember; add: boolean }[] = [];
  const seen = new Set<string>();
  let added = 0;
  let deleted = 0;
  for (const t of options.touched) {
    const id = `${t.set} ${t.member.key}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const spec = setSpec(t.set);
    const cur = options.current.get(t.set);
    if (!spec || !cur || setMismatch(cur, spec) !== undefined) return undefined;
    const want = options.desired.get(t.set)?.has(t.member.key) ?? false;
    if (want === cur.members.has(t.member.key)) continue;
    ops.push({ op: want ? "add" : "del", set: t.set, member: t.member });
    changes.push({ members: cur.members, member: t.member, add: want });
    if (want) added++;
    else deleted++;
  }
  return {
    ops,
    added,
    deleted,
    commit() {
      for (const c of changes) {
        if (c.add) c.members.set(c.member.key, c.member);
        else c.members.delete(c.member.key);
      }
    },
  };
}
