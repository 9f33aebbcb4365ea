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
import type { SetMembers } from "../dataplane/members.ts";
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
 * server (address, port and protocol; the same node port is one on every node address) are a
 * conflict the API server does not prevent for external IPs, nor manifest files for anything.
 * kube-proxy has no rule for it (the last service of a map iteration wins, at random); kipvs
 * decides the same way every time: the oldest creationTimestamp wins (a Service without one
 * comes after those with one), then the "namespace/name" that sorts first; the other takes
 * over when it goes. The loser's other virtual servers are programmed as usual, and shared
 * addresses and set entries are the union of both. `state.conflicts` lists every conflict.
 */
export class PlanMerge {
  #plans = new Map<string, ServicePlan>();
  /** Virtual server key → the services that want it, with their specs. */
  #vsOwners = new Map<string, Owners>();
  #addressRefs = new Map<string, number>();
  /** Set name → entry → number of services that want it. */
  #entryRefs = new Map<string, Map<string, number>>();
  #health = new Map<string, HealthCheckSpec>();
  /** creationTimestamp of the services that have one, ms. */
  #created = new Map<string, number>();
  #healthDirty = false;
  #state: DesiredState;

  constructor(options: PlanMergeOptions) {
    const ipsets = new Map<string, SetMembers>();
    for (const family of options.families) {
      for (const set of KUBE_SETS) ipsets.set(setName(set.base, family), new Map());
    }
    this.#state = {
      virtualServers: new Map(),
      addresses: new Set(),
      ipsets,
      healthChecks: [],
      families: [...options.families],
      noLocalEndpoints: { internal: 0, external: 0 },
      conflicts: new Map(),
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
    const o = this.#vsOwners.get(key);
    if (!o) return [];
    return o instanceof Map ? [...o.keys()].sort(this.#precedence) : [o.service];
  }

  /** Replaces the plan of `service`; undefined removes it. Returns what changed. */
  set(service: string, plan: ServicePlan | undefined): PlanDelta {
    const old = this.#plans.get(service);
    const delta = emptyDelta();
    if (!old && !plan) return delta;
    if (plan?.created !== undefined) this.#created.set(service, plan.created);
    else this.#created.delete(service);
    this.#swapVirtualServers(service, old, plan, delta);
    // Shared things: count the new plan in before the old one out, so that what both want
    // never drops to zero on the way.
    this.#countAddresses(plan, old, delta);
    this.#countEntries(plan, old, delta);

    const nle = this.#state.noLocalEndpoints;
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

  /** Virtual servers: note the winners of every key either plan touches, swap, compare. */
  #swapVirtualServers(
    service: string,
    old: ServicePlan | undefined,
    plan: ServicePlan | undefined,
    delta: PlanDelta,
  ): void {
    const state = this.#state;
    const touched = new Set<string>();
    for (const vs of old?.virtualServers ?? []) touched.add(key(vs));
    for (const vs of plan?.virtualServers ?? []) touched.add(key(vs));
    const before = new Map<string, VirtualServerSpec | undefined>();
    for (const k of touched) before.set(k, state.virtualServers.get(k));
    for (const vs of old?.virtualServers ?? []) {
      const k = key(vs);
      const rest = withoutOwner(this.#vsOwners.get(k)!, service);
      if (rest) this.#vsOwners.set(k, rest);
      else this.#vsOwners.delete(k);
    }
    for (const vs of plan?.virtualServers ?? []) {
      const k = key(vs);
      this.#vsOwners.set(k, withOwner(this.#vsOwners.get(k), service, vs));
    }
    for (const k of touched) {
      const owners = this.owners(k);
      if (owners.length > 1) state.conflicts.set(k, owners);
      else state.conflicts.delete(k);
      const after = ownerSpec(this.#vsOwners.get(k), owners[0]);
      if (after) state.virtualServers.set(k, after);
      else state.virtualServers.delete(k);
      const was = before.get(k);
      if (!(was && after && sameVirtualServer(was, after)) && (was || after)) {
        delta.virtualServers.push(k);
      }
    }
  }

  #countAddresses(
    plan: ServicePlan | undefined,
    old: ServicePlan | undefined,
    delta: PlanDelta,
  ): void {
    const state = this.#state;
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
  }

  #countEntries(
    plan: ServicePlan | undefined,
    old: ServicePlan | undefined,
    delta: PlanDelta,
  ): void {
    for (const e of plan?.ipsetEntries ?? []) {
      let refs = this.#entryRefs.get(e.set);
      if (!refs) this.#entryRefs.set(e.set, refs = new Map());
      const n = refs.get(e.member.key) ?? 0;
      refs.set(e.member.key, n + 1);
      if (n === 0) {
        this.#setOf(e.set).set(e.member.key, e.member);
        delta.entriesAdded.push(e);
      }
    }
    for (const e of old?.ipsetEntries ?? []) {
      const refs = this.#entryRefs.get(e.set)!;
      const n = refs.get(e.member.key)! - 1;
      if (n > 0) refs.set(e.member.key, n);
      else {
        refs.delete(e.member.key);
        this.#setOf(e.set).delete(e.member.key);
        delta.entriesRemoved.push(e);
      }
    }
  }

  /** Removes the plan of `service`. Returns what changed. */
  delete(service: string): PlanDelta {
    return this.set(service, undefined);
  }

  /** The order of services in a conflict: oldest first (without a time last), then by key. */
  #precedence = (a: string, b: string): number => {
    const ta = this.#created.get(a) ?? Infinity, tb = this.#created.get(b) ?? Infinity;
    if (ta !== tb) return ta < tb ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  };

  #setOf(name: string): SetMembers {
    let set = this.#state.ipsets.get(name);
    if (!set) this.#state.ipsets.set(name, set = new Map());
    return set;
  }
}

const key = virtualServerKey;

/**
 * The services that want one virtual server: one service (nearly always; an object of two
 * fields) or several (a map by service). A map for each of 60,000 virtual servers took ~11 MB.
 */
type Owners = { service: string; spec: VirtualServerSpec } | Map<string, VirtualServerSpec>;

function ownerSpec(
  o: Owners | undefined,
  service: string | undefined,
): VirtualServerSpec | undefined {
  if (!o || service === undefined) return undefined;
  if (o instanceof Map) return o.get(service);
  return o.service === service ? o.spec : undefined;
}

function withOwner(o: Owners | undefined, service: string, spec: VirtualServerSpec): Owners {
  if (!o || (!(o instanceof Map) && o.service === service)) return { service, spec };
  if (o instanceof Map) return o.set(service, spec);
  return new Map([[o.service, o.spec], [service, spec]]);
}

function withoutOwner(o: Owners, service: string): Owners | undefined {
  if (!(o instanceof Map)) return o.service === service ? undefined : o;
  o.delete(service);
  if (o.size > 1) return o;
  const [only] = o;
  return only && { service: only[0], spec: only[1] };
}
