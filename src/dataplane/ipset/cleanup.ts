/**
 * Removing kube-proxy's (and so kipvs's) sets. Run it after the iptables rules that match them
 * are gone: the kernel refuses to destroy a set that a rule still uses.
 *
 * @module
 */

import type { Ipset } from "./ipset.ts";
import type { IpsetSnapshot } from "./save.ts";
import { allKubeSetNames } from "./spec.ts";

/** The kube-proxy sets (both families) present in a snapshot, in the order ipset listed them. */
export function kubeSetsIn(snapshot: IpsetSnapshot): string[] {
  const ours = new Set(allKubeSetNames());
  return [...snapshot.keys()].filter((n) => ours.has(n));
}

/** The `ipset restore` payload that destroys `names` ("" for none). */
export function destroyPayload(names: readonly string[]): string {
  return names.map((n) => `destroy ${n}\n`).join("");
}

/**
 * Destroys every kube-proxy set the kernel holds, with one `ipset restore`; returns their names.
 * Throws (naming the set's line) when a set is still in use by an iptables rule.
 */
export async function destroyKubeSets(ipset: Ipset): Promise<string[]> {
  const names = kubeSetsIn(await ipset.save());
  await ipset.restore(destroyPayload(names));
  return names;
}
