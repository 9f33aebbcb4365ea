/**
 * The plan: Services and EndpointSlices in, the node's desired dataplane out, with kube-proxy's
 * IPVS-mode semantics (pkg/proxy/ipvs/proxier.go `syncProxyRules`, followed rule by rule; the
 * comments below say where kipvs and the issue text part ways). Pure: no I/O, no clock.
 *
 * @module
 */

import { SET, setName } from "../dataplane/ipset/sets.ts";
import {
  type EndpointSlice,
  HEADLESS_LABEL,
  objectKey,
  type Service,
  SERVICE_NAME_LABEL,
  SERVICE_PROXY_NAME_LABEL,
  type ServicePort,
} from "../k8s/types.ts";
import type { ClusterState } from "../source/source.ts";
import { cidrContains, formatIP, ipFamily, parseIP } from "../net/ip.ts";
import {
  type SetMember,
  setMember,
  type SetMembers,
  type SetProtocol,
} from "../dataplane/members.ts";
import type { Family } from "../net/family.ts";
import type { NodeInfo, ProxyConfig } from "../config/config.ts";
import {
  type DesiredState,
  type HealthCheckSpec,
  type IpsetEntry,
  type RealServerSpec,
  type ServicePlan,
  type ServicePortRef,
  virtualServerKey,
  type VirtualServerKind,
  type VirtualServerSpec,
} from "./desired.ts";
import {
  type CategorizedEndpoints,
  categorizeEndpoints,
  collectEndpoints,
  type EndpointInfo,
  endpointsForVirtualServer,
  portKey,
} from "./endpoints.ts";
import { PlanMerge } from "./merge.ts";
import { compareAddresses } from "./nodeports.ts";
import {
  type FamilyServiceInfo,
  familyServiceInfo,
  portExternallyAccessible,
  skipReason,
} from "./serviceinfo.ts";

/** What the plan reads besides the cluster objects. */
export interface PlanContext {
  config: Pick<ProxyConfig, "families" | "scheduler">;
  node: NodeInfo;
}

const LOOPBACK: Record<Family, string> = { 4: "127.0.0.1", 6: "::1" };

/** Everything one service contributes, collected before it is sorted into a ServicePlan. */
class Contribution {
  readonly vs = new Map<string, VirtualServerSpec>();
  readonly addresses = new Set<string>();
  readonly entries = new Map<string, SetMembers>();
  readonly noLocal = { internal: 0, external: 0 };
  /** Local ready endpoint IPs per family, for the health check. */
  readonly localReady: Record<Family, Set<string>> = { 4: new Set(), 6: new Set() };
  healthCheckNodePort = 0;

  add(base: string, family: Family, member: SetMember): void {
    const name = setName(base, family);
    let set = this.entries.get(name);
    if (!set) this.entries.set(name, set = new Map());
    set.set(member.key, member);
  }
}

/** Node-port sets per protocol: the set and its externalTrafficPolicy=Local twin. */
const NODE_PORT_SETS = {
  TCP: [SET.NODE_PORT_TCP, SET.NODE_PORT_LOCAL_TCP],
  UDP: [SET.NODE_PORT_UDP, SET.NODE_PORT_LOCAL_UDP],
  SCTP: [SET.NODE_PORT_SCTP, SET.NODE_PORT_LOCAL_SCTP],
} as const;

/** The protocol as sets write it: one string each, not a lower-case copy per port planned. */
const SET_PROTOCOL: Record<ServicePort["protocol"], SetProtocol> = {
  TCP: "tcp",
  UDP: "udp",
  SCTP: "sctp",
};

/** One family of one service being planned: what every port of it shares. */
interface FamilyPlanning {
  svc: Service;
  info: FamilyServiceInfo;
  ctx: PlanContext;
  acc: Contribution;
  endpoints: Map<string, EndpointInfo[]>;
  /** A virtual server found no local endpoint under each policy (counted once per service). */
  noLocal: { internal: boolean; external: boolean };
}

/** One port of one family being planned. */
interface PortPlanning extends FamilyPlanning {
  port: ServicePort;
  /** The protocol as sets write it ("tcp"). */
  protocol: SetProtocol;
  cat: CategorizedEndpoints;
  owner: ServicePortRef;
  /**
   * The real servers last made and the endpoints they were made of: the virtual servers of one
   * port (cluster IP, node port on each address, load balancer) mostly get the same endpoints,
   * and share one list of real servers (plans are read, never changed).
   */
  reals?: { of: readonly EndpointInfo[]; list: RealServerSpec[] };
}

/** Plans one family of one service into `acc`, port by port and address kind by address kind. */
function planFamily(
  svc: Service,
  info: FamilyServiceInfo,
  slices: readonly EndpointSlice[],
  ctx: PlanContext,
  acc: Contribution,
): void {
  const family = info.family;
  const node = ctx.node;
  const endpoints = collectEndpoints(slices, { family, nodeName: node.name });
  const f: FamilyPlanning = {
    svc,
    info,
    ctx,
    acc,
    endpoints,
    noLocal: { internal: false, external: false },
  };
  for (const list of endpoints.values()) {
    for (const ep of list) if (ep.local && ep.ready) acc.localReady[family].add(ep.address);
  }
  for (const port of svc.spec.ports) {
    const p = portPlanning(f, port);
    planHairpin(p);
    planClusterIP(p);
    planExternalIPs(p);
    planLoadBalancers(p);
    if (!planNodePort(p)) continue;
    if (info.healthCheckNodePort !== 0) {
      acc.add(SET.HEALTH_CHECK_NODE_PORT, family, setMember({ port: info.healthCheckNodePort }));
    }
  }
  // The health check server follows the service's ports (kube-proxy's HealthCheckNodePorts),
  // not the set entry above, which a port without node-port addresses skips.
  if (info.healthCheckNodePort !== 0 && svc.spec.ports.length > 0) {
    acc.healthCheckNodePort = info.healthCheckNodePort;
  }
  // kube-proxy's sync_proxy_rules_no_local_endpoints_total counts services, per family.
  if (f.noLocal.internal) acc.noLocal.internal++;
  if (f.noLocal.external) acc.noLocal.external++;
}

function portPlanning(f: FamilyPlanning, port: ServicePort): PortPlanning {
  const { svc, info, ctx } = f;
  const eps = f.endpoints.get(portKey(port)) ?? [];
  const cat = categorizeEndpoints(eps, {
    internalPolicyLocal: info.internalPolicyLocal,
    externalPolicyLocal: info.externalPolicyLocal,
    externallyAccessible: portExternallyAccessible(info, port),
  }, { nodeName: ctx.node.name, zone: ctx.node.zone });
  const owner = { namespace: svc.metadata.namespace, name: svc.metadata.name, port: port.name };
  const protocol = SET_PROTOCOL[port.protocol];
  return { ...f, port, protocol, cat, owner };
}

/** Adds the virtual server `address`:`vsPort` of port `p`, with the endpoints its policy picks. */
function addVirtualServer(
  p: PortPlanning,
  vs: { address: string; port: number; kind: VirtualServerKind; onlyNodeLocal: boolean },
): void {
  const { info } = p;
  const chosen = endpointsForVirtualServer(p.cat, vs.onlyNodeLocal);
  if (chosen.noLocal) {
    // kube-proxy counts the service under both policies it has, whichever address found no
    // local endpoint.
    p.noLocal.internal ||= info.internalPolicyLocal;
    p.noLocal.external ||= info.externalPolicyLocal;
  }
  const spec: VirtualServerSpec = {
    family: info.family,
    protocol: p.port.protocol,
    address: vs.address,
    port: vs.port,
    scheduler: p.ctx.config.scheduler,
    persistenceTimeout: info.affinityTimeout,
    realServers: realServersOf(p, chosen.endpoints),
    owner: p.owner,
    kind: vs.kind,
  };
  // The same address:port twice in one service (an external IP equal to a node address, say):
  // the later one wins, as kube-proxy's later syncService call does.
  p.acc.vs.set(virtualServerKey(spec), spec);
}

/** Binds an external or load balancer IP on kube-ipvs0, unless it already is a node address. */
function bind(p: PortPlanning, address: string): void {
  if (p.ctx.node.localAddresses?.includes(address)) return;
  p.acc.addresses.add(address);
  p.acc.add(SET.IPVS_IPS, p.info.family, setMember({ ip: address }));
}

/**
 * Hairpin: a local endpoint reaching itself through the service is masqueraded. Every local
 * endpoint counts, whatever its conditions, as in kube-proxy.
 */
function planHairpin(p: PortPlanning): void {
  for (const ep of p.endpoints.get(portKey(p.port)) ?? []) {
    if (!ep.local) continue;
    const member = setMember({
      ip: ep.address,
      protocol: p.protocol,
      port: ep.port,
      ip2: ep.address,
    });
    p.acc.add(SET.LOOP_BACK, p.info.family, member);
  }
}

function planClusterIP(p: PortPlanning): void {
  const { info, acc } = p;
  const member = setMember({ ip: info.clusterIP, protocol: p.protocol, port: p.port.port });
  acc.add(SET.CLUSTER_IP, info.family, member);
  addVirtualServer(p, {
    address: info.clusterIP,
    port: p.port.port,
    kind: "cluster-ip",
    onlyNodeLocal: info.internalPolicyLocal,
  });
  acc.addresses.add(info.clusterIP);
  acc.add(SET.IPVS_IPS, info.family, setMember({ ip: info.clusterIP }));
}

function planExternalIPs(p: PortPlanning): void {
  const { info } = p;
  for (const ip of info.externalIPs) {
    // externalTrafficPolicy Local puts the address only in the -LOCAL set (no masquerade).
    const set = info.externalPolicyLocal ? SET.EXTERNAL_IP_LOCAL : SET.EXTERNAL_IP;
    p.acc.add(set, info.family, setMember({ ip, protocol: p.protocol, port: p.port.port }));
    const onlyNodeLocal = info.externalPolicyLocal;
    addVirtualServer(p, { address: ip, port: p.port.port, kind: "external-ip", onlyNodeLocal });
    bind(p, ip);
  }
}

function planLoadBalancers(p: PortPlanning): void {
  const { info, acc } = p;
  const family = info.family;
  if (info.loadBalancerVIPs.length === 0) return;
  const nodeIP = parseIP(p.ctx.node.ips?.[family] ?? LOOPBACK[family])!;
  for (const ip of info.loadBalancerVIPs) {
    const ipPort = { ip, protocol: p.protocol, port: p.port.port };
    const entry = setMember(ipPort);
    acc.add(SET.LOAD_BALANCER, family, entry);
    if (info.externalPolicyLocal) acc.add(SET.LOAD_BALANCER_LOCAL, family, entry);
    if (info.sourceRanges.length > 0) {
      acc.add(SET.LOAD_BALANCER_FW, family, entry);
      for (const cidr of info.sourceRanges) {
        const net = setMember({ ...ipPort, ip2: formatIP(cidr), cidr2: cidr.prefix });
        acc.add(SET.LOAD_BALANCER_SOURCE_CIDR, family, net);
      }
      // A range that covers the node lets the node reach the load balancer IP (its packets
      // carry the load balancer IP as source); otherwise KUBE-IPVS-OUT-FILTER drops them.
      if (info.sourceRanges.some((c) => cidrContains(c, nodeIP))) {
        acc.add(SET.LOAD_BALANCER_SOURCE_IP, family, setMember({ ...ipPort, ip2: ip }));
      }
    }
    const onlyNodeLocal = info.externalPolicyLocal;
    addVirtualServer(p, { address: ip, port: p.port.port, kind: "load-balancer", onlyNodeLocal });
    bind(p, ip);
  }
}

/**
 * The node port of port `p`; false when it has one but no node-port address, where kube-proxy
 * skips the rest of the port (its health check node port entry included).
 */
function planNodePort(p: PortPlanning): boolean {
  const { info, port } = p;
  const family = info.family;
  const nodeAddresses = p.ctx.node.nodePortAddresses[family];
  if (port.nodePort === 0) return true;
  if (nodeAddresses.length === 0) return false;
  const [set, localSet] = NODE_PORT_SETS[port.protocol];
  // bitmap:port sets hold the port; the SCTP sets are hash:ip,port, one entry per address.
  const entries = port.protocol === "SCTP"
    ? nodeAddresses.map((ip) => setMember({ ip, protocol: "sctp", port: port.nodePort }))
    : [setMember({ port: port.nodePort })];
  for (const e of entries) {
    p.acc.add(set, family, e);
    if (info.externalPolicyLocal) p.acc.add(localSet, family, e);
  }
  for (const address of nodeAddresses) {
    const onlyNodeLocal = info.externalPolicyLocal;
    addVirtualServer(p, { address, port: port.nodePort, kind: "node-port", onlyNodeLocal });
  }
  return true;
}

function realServersOf(p: PortPlanning, eps: readonly EndpointInfo[]): RealServerSpec[] {
  if (p.reals?.of === eps) return p.reals.list;
  // kube-proxy gives every destination weight 1; graceful termination is the reconciler's.
  const list = eps.map((ep) => ({
    address: ep.address,
    port: ep.port,
    weight: 1,
    local: ep.local,
  }));
  p.reals = { of: eps, list };
  return list;
}

/**
 * What one service contributes to the node, for every family in `ctx.config.families` that the
 * service has a cluster IP of; undefined when kube-proxy would not proxy it (headless,
 * ExternalName, labelled for another proxy or headless, or no cluster IP of a planned family).
 *
 * `slices` are the service's EndpointSlices (label kubernetes.io/service-name); slices of the
 * other family are ignored per family.
 */
export function planService(
  svc: Service,
  slices: readonly EndpointSlice[],
  ctx: PlanContext,
): ServicePlan | undefined {
  if (skipReason(svc) !== undefined) return undefined;
  const acc = new Contribution();
  const planned: Family[] = [];
  for (const family of ctx.config.families) {
    const info = familyServiceInfo(svc, family);
    if (!info) continue;
    planned.push(family);
    planFamily(svc, info, slices, ctx, acc);
  }
  if (planned.length === 0) return undefined;

  const plan: ServicePlan = {
    service: objectKey(svc.metadata),
    virtualServers: [...acc.vs.keys()].sort().map((k) => acc.vs.get(k)!),
    addresses: [...acc.addresses].sort(compareAddresses),
    ipsetEntries: sortedEntries(acc.entries),
    noLocalEndpoints: acc.noLocal,
  };
  const created = Date.parse(svc.metadata.creationTimestamp ?? "");
  if (!Number.isNaN(created)) plan.created = created;
  if (acc.healthCheckNodePort !== 0) {
    // kube-proxy serves a health check per family with that family's count; kipvs serves one,
    // with the count of the service's primary family.
    const primary = ipFamily(svc.spec.clusterIP);
    const family = primary !== undefined && planned.includes(primary) ? primary : planned[0]!;
    const hc: HealthCheckSpec = {
      nodePort: acc.healthCheckNodePort,
      namespace: svc.metadata.namespace,
      name: svc.metadata.name,
      localEndpoints: acc.localReady[family].size,
    };
    plan.healthCheck = hc;
  }
  return plan;
}

function sortedEntries(entries: Map<string, SetMembers>): IpsetEntry[] {
  const out: IpsetEntry[] = [];
  for (const set of [...entries.keys()].sort()) {
    const members = entries.get(set)!;
    for (const key of [...members.keys()].sort()) out.push({ set, member: members.get(key)! });
  }
  return out;
}

/** Groups EndpointSlices by the "namespace/name" of the service they belong to. */
export function slicesByService(
  slices: Iterable<EndpointSlice>,
): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const slice of slices) {
    const labels = slice.metadata.labels;
    const name = labels[SERVICE_NAME_LABEL];
    // kube-proxy's informers never see slices labelled for another proxy or as headless.
    if (!name || skipsLabels(labels)) continue;
    const key = objectKey({ namespace: slice.metadata.namespace, name });
    const list = out.get(key);
    if (list) list.push(slice);
    else out.set(key, [slice]);
  }
  return out;
}

function skipsLabels(labels: Record<string, string>): boolean {
  return SERVICE_PROXY_NAME_LABEL in labels || HEADLESS_LABEL in labels;
}

/**
 * How to find one service's EndpointSlices in a state: through the source's index when it keeps
 * one (a change to one service costs that service's slices), else by grouping every slice once.
 * Either way the slices of {@link slicesByService}: labelled ones are left out.
 */
export function sliceLookup(state: ClusterState): (service: string) => EndpointSlice[] {
  const index = state.endpointSlicesByService;
  if (index) {
    return (service) => {
      const out: EndpointSlice[] = [];
      for (const s of index.get(service)?.values() ?? []) {
        if (!skipsLabels(s.metadata.labels)) out.push(s);
      }
      return out;
    };
  }
  let grouped: Map<string, EndpointSlice[]> | undefined;
  return (service) =>
    (grouped ??= slicesByService(state.endpointSlices.values())).get(service) ?? [];
}

/**
 * The whole node's desired state: the merge of every service's plan (see {@link PlanMerge} to
 * keep it up to date one service at a time).
 */
export function plan(state: ClusterState, ctx: PlanContext): DesiredState {
  const merge = new PlanMerge({ families: ctx.config.families });
  const slices = sliceLookup(state);
  for (const [key, svc] of state.services) {
    const p = planService(svc, slices(key), ctx);
    if (p) merge.set(key, p);
  }
  return merge.state;
}
