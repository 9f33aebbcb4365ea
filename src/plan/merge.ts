/**
 * The merge of every service's plan into one {@link DesiredState}, kept up to date one service
 * at a time. kube-ipvs0 addresses and ipset entries can be shared by several services (an
 * external IP on two services, a pod behind two services on the same port), so they are
 * reference-counted: an address goes only when its last service lets go of it.
 *
 * @module
 */

import { KUBE_SETS, setName } from "../dataplane/ipset/sets.ts";
import type { Family } from "../net/family.ts";
import {
  type DesiredState,
  type HealthCheckSpec,
  type IpsetEntry,
  type ServicePlan,
  virtualServerKey,
  type VirtualServerSpec,
} from "./desired.ts";

/** What one {@link PlanMerge.set} or {@link PlanMerge.delete} changed in the merged state. */
export interface PlanDelta {
  /** Keys of virtual servers added, changed or removed (look them up in the state). */
  virtualServers: string[];
  /** kube-ipvs0 addresses no service wanted before / no service wants any more. */
  addressesAdded: string[];
  addressesRemoved: string[];
  /** ipset entries that appeared / disappeared. */
  entriesAdded: IpsetEntry[];
  entriesRemoved: IpsetEntry[];
  /** The list of health checks changed. */
  healthChecks: boolean;
}

/** Options of {@link PlanMerge}. */
export interface PlanMergeOptions {
  /** Families planned: every kube-proxy ipset of each exists in the state, empty or not. */
  families: readonly Family[];
}

function emptyDelta(): PlanDelta {
  return {
    virtualServers: [],
    addressesAdded: [],
    addressesRemoved: [],
    entriesAdded: [],
    entriesRemoved: [],
    healthChecks: false,
  };
}

/** Whether two virtual server specs ask the kernel for the same thing, owner included. */
export function sameVirtualServer(a: VirtualServerSpec, b: VirtualServerSpec): boolean {
  if (
    a.family !== b.family || a.protocol !== b.protocol || a.address !== b.address ||
    a.port !== b.port || a.scheduler !== b.scheduler ||
    a.persistenceTimeout !== b.persistenceTimeout || a.kind !== b.kind ||
    a.owner.namespace !== b.owner.namespace || a.owner.name !== b.owner.name ||
    a.owner.port !== b.owner.port || a.realServers.length !== b.realServers.length
  ) return false;
  return a.realServers.every((r, i) => {
    const s = b.realServers[i]!;
    return r.address === s.address && r.port === s.port && r.weight === s.weight &&
      r.local === s.local;
  });
}

function sameHealthCheck(a?: HealthCheckSpec, b?: HealthCheckSpec): boolean {
  if (!a || !b) return a === b;
  return a.nodePort === b.nodePort && a.namespace === b.namespace && a.name === b.name &&
    a.localEndpoints === b.localEndpoints;
}

/**
 * Every service's plan merged, updated incrementally. Two services that want the same virtual
 * server (a conflict the API does not prevent for external IPs) are resolved the same way every
 * time: the service whose "namespace/name" sorts first wins, and the other takes over when it
 * goes.
 */
export class PlanMerge {
  #plans = new Map<string, ServicePlan>();
  /** Virtual server key → service → its spec. */
  #vsOwners = new Map<string, Map<string, VirtualServerSpec>>();
  #addressRefs = new Map<string, number>();
  /** Set name → entry → number of services that want it. */
  #entryRefs = new Map<string, Map<string, number>>();
  #health = new Map<string, HealthCheckSpec>();
  #healthDirty = false;
  #state: DesiredState;

  constructor(options: PlanMergeOptions) {
    const ipsets = new Map<string, Set<string>>();
    for (const family of options.families) {
      for (const set of KUBE_SETS) ipsets.set(setName(set.base, family), new Set());
    }
    this.#state = {
      virtualServers: new Map(),
      addresses: new Set(),
      ipsets,
      healthChecks: [],
      families: [...options.families],
      noLocalEndpoints: { internal: 0, external: 0 },
    };
  }

  /**
   * The merged state. A live view, updated by {@link set} and {@link delete}: read it, do not
   * change it.
   */
  get state(): DesiredState {
    if (this.#healthDirty) {
      this.#state.healthChecks = [...this.#health.keys()].sort().map((k) => this.#health.get(k)!);
      this.#healthDirty = false;
    }
    return this.#state;
  }

  /** Number of services with a plan. */
  get size(): number {
    return this.#plans.size;
  }

  /** The plan of one service ("namespace/name"). */
  get(service: string): ServicePlan | undefined {
    return this.#plans.get(service);
  }

  /** The services with a plan. */
  services(): IterableIterator<string> {
    return this.#plans.keys();
  }

  /** The services that want virtual server `key`, the winner first. */
  owners(key: string): string[] {
    return [...(this.#vsOwners.get(key)?.keys() ?? [])].sort();
  }

  /** Replaces the plan of `service`; undefined removes it. Returns what changed. */
  set(service: string, plan: ServicePlan | undefined): PlanDelta {
    const old = this.#plans.get(service);
    const delta = emptyDelta();
    if (!old && !plan) return delta;
    const state = this.#state;

    // Virtual servers: note the winners of every key either plan touches, swap, compare.
    const touched = new Set<string>();
    for (const vs of old?.virtualServers ?? []) touched.add(key(vs));
    for (const vs of plan?.virtualServers ?? []) touched.add(key(vs));
    const before = new Map<string, VirtualServerSpec | undefined>();
    for (const k of touched) before.set(k, state.virtualServers.get(k));
    for (const vs of old?.virtualServers ?? []) {
      const owners = this.#vsOwners.get(key(vs))!;
      owners.delete(service);
      if (owners.size === 0) this.#vsOwners.delete(key(vs));
    }
    for (const vs of plan?.virtualServers ?? []) {
      const k = key(vs);
      let owners = this.#vsOwners.get(k);
      if (!owners) this.#vsOwners.set(k, owners = new Map());
      owners.set(service, vs);
    }
    for (const k of touched) {
      const after = this.#winner(k);
      if (after) state.virtualServers.set(k, after);
      else state.virtualServers.delete(k);
      const was = before.get(k);
      if (!(was && after && sameVirtualServer(was, after)) && (was || after)) {
        delta.virtualServers.push(k);
      }
    }

    // Shared things: count the new plan in before the old one out, so that what both want
    // never drops to zero on the way.
    for (const a of plan?.addresses ?? []) {
      const n = this.#addressRefs.get(a) ?? 0;
      this.#addressRefs.set(a, n + 1);
      if (n === 0) {
        state.addresses.add(a);
        delta.addressesAdded.push(a);
      }
    }
    for (const a of old?.addresses ?? []) {
      const n = this.#addressRefs.get(a)! - 1;
      if (n > 0) this.#addressRefs.set(a, n);
      else {
        this.#addressRefs.delete(a);
        state.addresses.delete(a);
        delta.addressesRemoved.push(a);
      }
    }
    for (const e of plan?.ipsetEntries ?? []) {
      let refs = this.#entryRefs.get(e.set);
      if (!refs) this.#entryRefs.set(e.set, refs = new Map());
      const n = refs.get(e.entry) ?? 0;
      refs.set(e.entry, n + 1);
      if (n === 0) {
        this.#setOf(e.set).add(e.entry);
        delta.entriesAdded.push(e);
      }
    }
    for (const e of old?.ipsetEntries ?? []) {
      const refs = this.#entryRefs.get(e.set)!;
      const n = refs.get(e.entry)! - 1;
      if (n > 0) refs.set(e.entry, n);
      else {
        refs.delete(e.entry);
        this.#setOf(e.set).delete(e.entry);
        delta.entriesRemoved.push(e);
      }
    }

    const nle = state.noLocalEndpoints;
    nle.internal += (plan?.noLocalEndpoints.internal ?? 0) - (old?.noLocalEndpoints.internal ?? 0);
    nle.external += (plan?.noLocalEndpoints.external ?? 0) - (old?.noLocalEndpoints.external ?? 0);

    if (!sameHealthCheck(old?.healthCheck, plan?.healthCheck)) {
      if (plan?.healthCheck) this.#health.set(service, plan.healthCheck);
      else this.#health.delete(service);
      this.#healthDirty = true;
      delta.healthChecks = true;
    }

    if (plan) this.#plans.set(service, plan);
    else this.#plans.delete(service);
    return delta;
  }

  /** Removes the plan of `service`. Returns what changed. */
  delete(service: string): PlanDelta {
    return this.set(service, undefined);
  }

  #winner(k: string): VirtualServerSpec | undefined {
    const owners = this.#vsOwners.get(k);
    if (!owners) return undefined;
    let best: string | undefined;
    for (const s of owners.keys()) if (best === undefined || s < best) best = s;
    return best === undefined ? undefined : owners.get(best);
  }

  #setOf(name: string): Set<string> {
    let set = this.#state.ipsets.get(name);
    if (!set) this.#state.ipsets.set(name, set = new Set());
    return set;
  }
}

const key = virtualServerKey;
