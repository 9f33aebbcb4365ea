/**
 * The merged view of all manifest files: which file defines which object, which definition
 * wins when two files define the same object, and what changed when some files changed.
 *
 * When several files define the same kind and namespace/name, the file last in path order wins,
 * as the last one applied would with `kubectl apply -R -f <dir>` (which applies in path order).
 *
 * @module
 */

import type { EndpointSlice, KubeObject, Node, Service } from "../k8s/types.ts";
import { objectKey, SERVICE_NAME_LABEL } from "../k8s/types.ts";
import { SliceIndex } from "./_slice_index.ts";

/** One object as one file defines it. */
export interface Definition {
  object: KubeObject;
  /** JSON text of `object`, computed when first compared. */
  fingerprint?: string;
}

/** "Service/default/web": identity of an object across files. */
export function identity(o: KubeObject): string {
  return `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
}

/** "Service default/web" for the identity "Service/default/web" (a Node: "Node node-1"). */
export function describeIdentity(id: string): string {
  const slash = id.indexOf("/");
  const key = id.slice(slash + 1);
  return `${id.slice(0, slash)} ${key.startsWith("/") ? key.slice(1) : key}`;
}

/** An object defined by more than one file. */
export interface Duplicate {
  identity: string;
  /** The files, in path order; the last one wins. */
  files: string[];
}

/** What one {@link ManifestView.apply} changed. */
export interface ViewChange {
  /** "namespace/name" of every Service whose object or EndpointSlices changed. */
  services: Set<string>;
  node: boolean;
  serviceChanges: number;
  endpointChanges: number;
  /** Objects defined more than once among those the update touched. */
  duplicates: Duplicate[];
}

/** Objects of every file, merged into the maps a ClusterState exposes. */
export class ManifestView {
  /** By "namespace/name". */
  readonly services: Map<string, Service> = new Map();
  /** By "namespace/name" of the slice. */
  readonly endpointSlices: Map<string, EndpointSlice> = new Map();
  node: Node | undefined;
  /** The slices grouped by service (see ClusterState.endpointSlicesByService). */
  readonly slices: SliceIndex = new SliceIndex();
  #byFile = new Map<string, Map<string, Definition>>();
  /** identity → files defining it, in path order. */
  #owners = new Map<string, string[]>();
  /** identity → the winning definition (what the maps above hold). */
  #current = new Map<string, Definition>();

  /** The definitions a file contributed at its last good read. */
  definitions(file: string): ReadonlyMap<string, Definition> | undefined {
    return this.#byFile.get(file);
  }

  /** The file whose definition of `id` wins (the last in path order), if any defines it. */
  fileOf(id: string): string | undefined {
    return this.#owners.get(id)?.at(-1);
  }

  /** Files that contributed at least one read (possibly of no objects). */
  files(): IterableIterator<string> {
    return this.#byFile.keys();
  }

  /** Replaces the definitions of some files; `undefined` removes a file. */
  apply(updates: ReadonlyMap<string, ReadonlyMap<string, Definition> | undefined>): ViewChange {
    const affected = new Set<string>();
    for (const [file, defs] of updates) {
      const old = this.#byFile.get(file);
      if (old) {
        for (const id of old.keys()) {
          affected.add(id);
          this.#removeOwner(id, file);
        }
      }
      if (defs === undefined) {
        this.#byFile.delete(file);
        continue;
      }
      this.#byFile.set(file, new Map(defs));
      for (const id of defs.keys()) {
        affected.add(id);
        this.#addOwner(id, file);
      }
    }
    const change: ViewChange = {
      services: new Set(),
      node: false,
      serviceChanges: 0,
      endpointChanges: 0,
      duplicates: [],
    };
    for (const id of affected) {
      const owners = this.#owners.get(id);
      const winner = owners?.[owners.length - 1];
      const next = winner === undefined ? undefined : this.#byFile.get(winner)?.get(id);
      if (owners && owners.length > 1) change.duplicates.push({ identity: id, files: [...owners] });
      const prev = this.#current.get(id);
      if (same(prev, next)) continue;
      if (next) this.#current.set(id, next);
      else this.#current.delete(id);
      this.#record(prev?.object, next?.object, change);
    }
    return change;
  }

  #record(prev: KubeObject | undefined, next: KubeObject | undefined, c: ViewChange): void {
    const o = (next ?? prev)!;
    const key = objectKey(o.metadata);
    if (o.kind === "Service") {
      if (next) this.services.set(key, next as Service);
      else this.services.delete(key);
      c.services.add(key);
      c.serviceChanges++;
    } else if (o.kind === "EndpointSlice") {
      if (next) this.endpointSlices.set(key, next as EndpointSlice);
      else this.endpointSlices.delete(key);
      this.slices.update(key, prev as EndpointSlice | undefined, next as EndpointSlice | undefined);
      for (const s of [prev, next]) {
        const svc = s?.metadata.labels[SERVICE_NAME_LABEL];
        if (s && svc) c.services.add(`${s.metadata.namespace}/${svc}`);
      }
      c.endpointChanges++;
    } else {
      this.node = next as Node | undefined;
      c.node = true;
    }
  }

  #addOwner(id: string, file: string): void {
    const list = this.#owners.get(id);
    if (list === undefined) {
      this.#owners.set(id, [file]);
      return;
    }
    if (list.includes(file)) return;
    list.push(file);
    list.sort();
  }

  #removeOwner(id: string, file: string): void {
    const list = this.#owners.get(id);
    if (list === undefined) return;
    const at = list.indexOf(file);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.#owners.delete(id);
  }
}

function same(a: Definition | undefined, b: Definition | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  a.fingerprint ??= JSON.stringify(a.object);
  b.fingerprint ??= JSON.stringify(b.object);
  return a.fingerprint === b.fingerprint;
}
