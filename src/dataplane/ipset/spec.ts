/**
 * How kube-proxy creates each of its sets: the type, and the options it passes to
 * `ipset create` (hash sets: `family inet|inet6 hashsize 1024 maxelem 65536`; bitmap:port sets:
 * `range 0-65535`). No comment extension: kube-proxy creates its sets without one.
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import { type CreateOptions, type IpsetOp, opLine } from "./ops.ts";
import type { SetOptions } from "./save.ts";
import { KUBE_SETS, type KubeSet, setName, type SetType } from "./sets.ts";

/** kube-proxy's default hash size of a hash set. */
export const HASH_SIZE = 1024;
/** kube-proxy's maximum element count of a hash set. */
export const MAX_ELEM = 65536;
/** kube-proxy's port range of a bitmap:port set. */
export const PORT_RANGE: readonly [number, number] = [0, 65535];

/** The kernel-level identity of one kube-proxy set: name, type, family and creation options. */
export interface SetSpec {
  /** Kernel name ("KUBE-6-CLUSTER-IP"). */
  name: string;
  /** The family-neutral description from {@link KUBE_SETS}. */
  kube: KubeSet;
  family: Family;
  type: SetType;
  /** The options kube-proxy creates it with (family and sizes, or a bitmap's port range). */
  create: CreateOptions;
}

const BY_NAME = new Map<string, SetSpec>();
for (const family of [4, 6] as const) {
  for (const kube of KUBE_SETS) {
    const name = setName(kube.base, family);
    const create: CreateOptions = kube.type === "bitmap:port"
      ? { type: kube.type, range: [...PORT_RANGE] }
      : { type: kube.type, family, hashsize: HASH_SIZE, maxelem: MAX_ELEM };
    BY_NAME.set(name, { name, kube, family, type: kube.type, create });
  }
}

/** The spec of a kube-proxy set by its kernel name; undefined for a name kube-proxy never uses. */
export function setSpec(name: string): SetSpec | undefined {
  return BY_NAME.get(name);
}

/** Every kube-proxy set of a family, in kube-proxy's order. */
export function familySpecs(family: Family): SetSpec[] {
  return KUBE_SETS.map((k) => BY_NAME.get(setName(k.base, family))!);
}

/** Every kernel set name kube-proxy (and kipvs) may create, both families. */
export function allKubeSetNames(): string[] {
  return [...BY_NAME.keys()];
}

/** kube-proxy's creation options of a set, as the kernel reports them once created. */
export function createOptions(spec: SetSpec): SetOptions {
  const { type: _, ...options } = spec.create;
  return { ...options, other: [] };
}

/** The op that creates a set with kube-proxy's options. */
export function createOp(spec: SetSpec): IpsetOp {
  return { op: "create", set: spec.name, create: spec.create };
}

/** The `create` line of a set, as `ipset restore` reads it. */
export function createLine(spec: SetSpec): string {
  return opLine(createOp(spec));
}
