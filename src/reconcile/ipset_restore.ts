/**
 * The ipset writes (typed {@link IpsetOp}s, applied in one batch) that take the kernel's
 * kube-proxy sets from what it holds to what the plan wants: missing sets created with
 * kube-proxy's options, a set of the wrong type (or family, or port range) destroyed and
 * created again, missing entries added and stale ones deleted. Sets are never flushed to be
 * refilled, and an empty difference gives no ops (nothing is sent or run for it).
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type { Family } from "../net/family.ts";
import type { ReadonlySetMembers, SetMember } from "../dataplane/members.ts";
import type { IpsetSnapshot, KernelSet } from "../dataplane/ipset/save.ts";
import type { IpsetOp } from "../dataplane/ipset/ops.ts";
import {
  createOp,
  createOptions,
  familySpecs,
  type SetSpec,
  setSpec,
} from "../dataplane/ipset/spec.ts";

/** Options of {@link planIpsetRestore}. */
export interface IpsetPlanOptions {
  /** Kernel set name → wanted members (DesiredState.ipsets). */
  desired: ReadonlyMap<string, ReadonlySetMembers>;
  /** Families whose kube-proxy sets must all exist, even those absent from `desired`. */
  families: readonly Family[];
  /** What the kernel holds now. */
  current: IpsetSnapshot;
}

/** What {@link planIpsetRestore} decided. */
export interface IpsetPlan {
  /** The writes, in order; none when the kernel already matches. */
  ops: IpsetOp[];
  /** Sets created because they were missing. */
  created: string[];
  /** Sets destroyed and created again because their type or options were wrong. */
  recreated: string[];
  /** Entries added and deleted. */
  added: number;
  deleted: number;
  /**
   * What `ipset save` will show once the payload is applied: `current` with kube-proxy's sets
   * as planned. A caller may keep it to skip reading the kernel on its next sync.
   */
  after: IpsetSnapshot;
}

/** Why an existing set cannot be adopted, or undefined when it can. */
export function setMismatch(cur: KernelSet, spec: SetSpec): string | undefined {
  if (cur.type !== spec.type) return `type ${cur.type}, want ${spec.type}`;
  const want = spec.create;
  const o = cur.options;
  if (want.family !== undefined && o.family !== want.family) {
    return `family ${o.family === undefined ? "(none)" : `inet${o.family === 6 ? "6" : ""}`}, ` +
      `want inet${want.family === 6 ? "6" : ""}`;
  }
  const range = (r?: readonly number[]) => r ? `${r[0]}-${r[1]}` : "(none)";
  if (want.range && range(o.range) !== range(want.range)) {
    return `range ${range(o.range)}, want ${range(want.range)}`;
  }
  return undefined;
}

/** Computes the writes for the differences between `desired` and `current`. */
export function planIpsetRestore(options: IpsetPlanOptions): IpsetPlan {
  const names = new Set<string>();
  for (const f of options.families) for (const s of familySpecs(f)) names.add(s.name);
  for (const name of options.desired.keys()) names.add(name);

  const after: IpsetSnapshot = new Map(options.current);
  const plan: IpsetPlan = {
    ops: [],
    created: [],
    recreated: [],
    added: 0,
    deleted: 0,
    after,
  };
  const ops = plan.ops;
  for (const name of names) {
    const spec = setSpec(name);
    if (!spec) {
      throw new KipvsError("internal", `desired ipset "${name}" is not one of kube-proxy's sets`, {
        details: { set: name },
      });
    }
    const want: ReadonlySetMembers = options.desired.get(name) ?? new Map();
    const cur = options.current.get(name);
    const mismatch = cur && setMismatch(cur, spec);
    let have: ReadonlySetMembers = cur?.members ?? new Map();
    if (!cur || mismatch) {
      if (mismatch) {
        ops.push({ op: "destroy", set: name });
        plan.recreated.push(name);
      } else {
        plan.created.push(name);
      }
      ops.push(createOp(spec));
      have = new Map();
    }
    const stale = without(have, want);
    const missing = without(want, have);
    after.set(name, {
      name,
      type: spec.type,
      options: cur && !mismatch ? cur.options : createOptions(spec),
      members: new Map(want),
    });
    for (const member of stale) ops.push({ op: "del", set: name, member });
    for (const member of missing) ops.push({ op: "add", set: name, member });
    plan.deleted += stale.length;
    plan.added += missing.length;
  }
  return plan;
}

/** The members of `a` that `b` lacks, sorted by key. */
function without(a: ReadonlySetMembers, b: ReadonlySetMembers): SetMember[] {
  const out: SetMember[] = [];
  for (const [key, m] of a) if (!b.has(key)) out.push(m);
  return out.sort((x, y) => x.key < y.key ? -1 : x.key > y.key ? 1 : 0);
}
