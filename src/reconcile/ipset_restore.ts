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
import { canonicalEntry } from "../dataplane/ipset/entry.ts";
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
  /** Kernel set name → wanted entries (DesiredState.ipsets). */
  desired: ReadonlyMap<string, ReadonlySet<string>>;
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
  if (spec.hashFamily && cur.options.get("family") !== spec.hashFamily) {
    return `family ${cur.options.get("family") ?? "(none)"}, want ${spec.hashFamily}`;
  }
  if (spec.range && cur.options.get("range") !== spec.range) {
    return `range ${cur.options.get("range") ?? "(none)"}, want ${spec.range}`;
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
    const want = new Set<string>();
    for (const e of options.desired.get(name) ?? []) want.add(canonicalEntry(spec, e));
    const cur = options.current.get(name);
    const mismatch = cur && setMismatch(cur, spec);
    let have: ReadonlySet<string> = cur?.entries ?? new Set();
    if (!cur || mismatch) {
      if (mismatch) {
        ops.push({ op: "destroy", set: name });
        plan.recreated.push(name);
      } else {
        plan.created.push(name);
      }
      ops.push(createOp(spec));
      have = new Set();
    }
    const stale = [...have].filter((e) => !want.has(e)).sort();
    const missing = [...want].filter((e) => !have.has(e)).sort();
    after.set(name, {
      name,
      type: spec.type,
      options: cur && !mismatch ? cur.options : createOptions(spec),
      entries: want,
    });
    for (const entry of stale) ops.push({ op: "del", set: name, entry });
    for (const entry of missing) ops.push({ op: "add", set: name, entry });
    plan.deleted += stale.length;
    plan.added += missing.length;
  }
  return plan;
}
