/**
 * The one `ipset restore` payload that takes the kernel's kube-proxy sets from what
 * `ipset save` showed to what the plan wants: missing sets created with kube-proxy's options,
 * a set of the wrong type (or family, or port range) destroyed and created again, missing
 * entries added and stale ones deleted. Sets are never flushed to be refilled, and an empty
 * difference gives an empty payload (no process is run for it).
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type { Family } from "../net/family.ts";
import { canonicalEntry } from "../dataplane/ipset/entry.ts";
import type { IpsetSnapshot, KernelSet } from "../dataplane/ipset/save.ts";
import {
  createLine,
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
  /** `ipset restore` input; "" when the kernel already matches. */
  payload: string;
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

/** Computes the restore payload for the differences between `desired` and `current`. */
export function planIpsetRestore(options: IpsetPlanOptions): IpsetPlan {
  const names = new Set<string>();
  for (const f of options.families) for (const s of familySpecs(f)) names.add(s.name);
  for (const name of options.desired.keys()) names.add(name);

  const after: IpsetSnapshot = new Map(options.current);
  const plan: IpsetPlan = {
    payload: "",
    created: [],
    recreated: [],
    added: 0,
    deleted: 0,
    after,
  };
  const lines: string[] = [];
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
        lines.push(`destroy ${name}`);
        plan.recreated.push(name);
      } else {
        plan.created.push(name);
      }
      lines.push(createLine(spec));
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
    for (const e of stale) lines.push(`del ${name} ${e}`);
    for (const e of missing) lines.push(`add ${name} ${e}`);
    plan.deleted += stale.length;
    plan.added += missing.length;
  }
  plan.payload = lines.length ? lines.join("\n") + "\n" : "";
  return plan;
}
