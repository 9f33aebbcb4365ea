/**
 * One ipset sync: read the kernel's sets once, write the differences with at most one
 * `ipset restore`.
 *
 * @module
 */

import type { Family } from "../net/family.ts";
import type { ReadonlySetMembers } from "../dataplane/members.ts";
import type { Ipset } from "../dataplane/ipset/ipset.ts";
import { type IpsetPlan, planIpsetRestore } from "./ipset_restore.ts";
import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";

/** Options of {@link syncIpsets}. */
export interface IpsetSyncOptions {
  ipset: Ipset;
  /** Kernel set name → wanted members (DesiredState.ipsets). */
  desired: ReadonlyMap<string, ReadonlySetMembers>;
  /** Families whose kube-proxy sets must all exist. */
  families: readonly Family[];
  /** The kernel's sets when the caller already read them; read here otherwise. */
  current?: IpsetSnapshot;
}

/** What {@link syncIpsets} did. */
export interface IpsetSyncResult extends IpsetPlan {
  /** Whether `ipset restore` ran (false when the kernel already matched). */
  restored: boolean;
}

/** Makes the kernel's kube-proxy sets match `desired`; runs no restore when they already do. */
export async function syncIpsets(options: IpsetSyncOptions): Promise<IpsetSyncResult> {
  const current = options.current ?? await options.ipset.save();
  const plan = planIpsetRestore({
    desired: options.desired,
    families: options.families,
    current,
  });
  if (plan.ops.length === 0) return { ...plan, restored: false };
  await options.ipset.apply(plan.ops);
  return { ...plan, restored: true };
}
