/**
 * Removing kube-proxy's (and so kipvs's) sets. Run it after the iptables rules that match them
 * are gone: the kernel refuses to destroy a set that a rule still uses.
 *
 * @module
 */

import type { Ipset } from "./ipset.ts";
import type { IpsetOp } from "./ops.ts";
import type { IpsetSnapshot } from "./save.ts";
import { allKubeSetNames } from "./spec.ts";

/** The kube-proxy sets (both families) present in a snapshot, in the order ipset listed them. */
export function kubeSetsIn(snapshot: IpsetSnapshot): string[] {
  const ours = new Set(allKubeSetNames());
  return [...snapshot.keys()].filter((n) => ours.has(n));
}

/** The ops that destroy `names`. */
export function destroyOps(names: readonly string[]): IpsetOp[] {
  return names.map((set) => ({ op: "destroy", set }));
}

/**
 * Destroys every kube-proxy set the kernel holds, in one batch; returns their names.
 * Throws (naming the set's line) when a set is still in use by an iptables rule.
 */
export async function destroyKubeSets(ipset: Ipset): Promise<string[]> {
  const names = kubeSetsIn(await ipset.save());
  if (names.length > 0) await ipset.apply(destroyOps(names));
  return names;
}
