/**
 * Desired dataplane state: what the plan produces and the reconciler makes true. Plain data.
 *
 * The plan works per service (`ServicePlan`), so that a change to one Service touches only its
 * own contribution; {@link DesiredState} is the merge of every service's plan. Addresses and
 * ipset entries can be shared by several services (an external IP on two services), so the
 * merge counts references.
 *
 * @module
 */

import type { Protocol } from "../k8s/types.ts";
import type { Family } from "../net/family.ts";
import type { SetMember, SetMembers } from "../dataplane/members.ts";

/** A real server (an endpoint) behind a virtual server. */
export interface RealServerSpec {
  address: string;
  port: number;
  /** 1 for serving endpoints; kube-proxy gives every endpoint weight 1. */
  weight: number;
  /** The endpoint runs on this node. */
  local: boolean;
}

/** Which namespace/service:port a virtual server belongs to. */
export interface ServicePortRef {
  namespace: string;
  name: string;
  /** The service port's name ("" for an unnamed port). */
  port: string;
}

/** Why a virtual server exists. */
export type VirtualServerKind = "cluster-ip" | "external-ip" | "load-balancer" | "node-port";

/** One IPVS virtual server kipvs wants, with its real servers. */
export interface VirtualServerSpec {
  family: Family;
  protocol: Protocol;
  address: string;
  port: number;
  scheduler: string;
  /** ClientIP session affinity: persistence timeout in seconds; 0 for none. */
  persistenceTimeout: number;
  realServers: RealServerSpec[];
  owner: ServicePortRef;
  kind: VirtualServerKind;
}

/** Identity of a virtual server: "TCP/10.96.0.1:443", "UDP/[fd00::1]:53". */
export function virtualServerKey(
  vs: Pick<VirtualServerSpec, "protocol" | "address" | "port">,
): string {
  const host = vs.address.includes(":") ? `[${vs.address}]` : vs.address;
  return `${vs.protocol}/${host}:${vs.port}`;
}

/** A health check node port of an `externalTrafficPolicy: Local` service (served by kipvs). */
export interface HealthCheckSpec {
  nodePort: number;
  namespace: string;
  name: string;
  /** Ready endpoints of the service on this node. */
  localEndpoints: number;
}

/** One set member, by kernel set name ("KUBE-CLUSTER-IP", "KUBE-6-CLUSTER-IP"). */
export interface IpsetEntry {
  set: string;
  member: SetMember;
}

/** What one Service contributes to the dataplane. */
export interface ServicePlan {
  /** "namespace/name". */
  service: string;
  virtualServers: VirtualServerSpec[];
  /** Addresses to bind on kube-ipvs0 (both families). */
  addresses: string[];
  ipsetEntries: IpsetEntry[];
  healthCheck?: HealthCheckSpec;
  /**
   * Families (0, 1 or 2) in which a port of this service has a Local traffic policy, endpoints
   * somewhere, but none on this node (kube-proxy's sync_proxy_rules_no_local_endpoints_total
   * counts services, per family).
   */
  noLocalEndpoints: { internal: number; external: number };
  /** The Service's creationTimestamp, ms since the epoch: the older wins a conflict. */
  created?: number;
}

/** The whole desired dataplane of a node. */
export interface DesiredState {
  /** By {@link virtualServerKey}. */
  virtualServers: Map<string, VirtualServerSpec>;
  /** kube-ipvs0 addresses. */
  addresses: Set<string>;
  /** Kernel set name → members by key; every set kipvs manages is present, empty or not. */
  ipsets: Map<string, SetMembers>;
  healthChecks: HealthCheckSpec[];
  /** Families planned (sets and rules exist per family). */
  families: Family[];
  noLocalEndpoints: { internal: number; external: number };
  /**
   * Virtual servers that more than one Service wants, by key: the Services in the order that
   * decides between them, the one programmed first (see `PlanMerge`).
   */
  conflicts: Map<string, string[]>;
}
