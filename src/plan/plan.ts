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
} from "../k8s/types.ts";
import type { ClusterState } from "../source/source.ts";
import { cidrContains, formatCIDR, formatIP, ipFamily, parseIP } from "../net/ip.ts";
import type { Family } from "../net/family.ts";
import type { NodeInfo, ProxyConfig } from "../config/config.ts";
import {
  type DesiredState,
  type HealthCheckSpec,
  type IpsetEntry,
  type ServicePlan,
  virtualServerKey,
  type VirtualServerKind,
  type VirtualServerSpec,
} from "./desired.ts";
import {
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
  readonly entries = new Map<string, Set<string>>();
  readonly noLocal = { internal: 0, external: 0 };
  /** Local ready endpoint IPs per family, for the health check. */
  readonly localReady: Record<Family, Set<string>> = { 4: new Set(), 6: new Set() };
  healthCheckNodePort = 0;

  add(base: string, family: Family, entry: string): void {
    const name = setName(base, family);
    let set = this.entries.get(name);
    if (!set) this.entries.set(name, set = new Set());
    set.add(entry);
  }
}

/** Node-port sets per protocol: the set and its externalTrafficPolicy=Local twin. */
const NODE_PORT_SETS = {
  TCP: [SET.NODE_PORT_TCP, SET.NODE_PORT_LOCAL_TCP],
  UDP: [SET.NODE_PORT_UDP, SET.NODE_PORT_LOCAL_UDP],
  SCTP: [SET.NODE_PORT_SCTP, SET.NODE_PORT_LOCAL_SCTP],
} as const;

/** Plans one family of one service into `acc`. */
function planFamily(
  svc: Service,
  info: FamilyServiceInfo,
  slices: readonly EndpointSlice[],
  ctx: PlanContext,
  acc: Contribution,
): void {
  const family = info.family;
  const node = ctx.node;
  const topo = { nodeName: node.name, zone: node.zone };
  const endpoints = collectEndpoints(slices, { family, nodeName: node.name });
  const nodeAddresses = node.nodePortAddresses[family];
  const localAddresses = new Set(node.localAddresses ?? []);
  const nodeIP = parseIP(node.ips?.[family] ?? LOOPBACK[family])!;
  let noLocalInternal = false, noLocalExternal = false;

  for (const list of endpoints.values()) {
    for (const ep of list) if (ep.local && ep.ready) acc.localReady[family].add(ep.address);
  }

  for (const port of svc.spec.ports) {
    const proto = port.protocol.toLowerCase();
    const eps = endpoints.get(portKey(port)) ?? [];
    const cat = categorizeEndpoints(eps, {
      internalPolicyLocal: info.internalPolicyLocal,
      externalPolicyLocal: info.externalPolicyLocal,
      externallyAccessible: portExternallyAccessible(info, port),
    }, topo);
    const owner = { namespace: svc.metadata.namespace, name: svc.metadata.name, port: port.name };
    const addVirtualServer = (
      address: string,
      vsPort: number,
      kind: VirtualServerKind,
      onlyNodeLocal: boolean,
    ) => {
      const chosen = endpointsForVirtualServer(cat, onlyNodeLocal);
      if (chosen.noLocal) {
        // kube-proxy counts the service under both policies it has, whichever address found
        // no local endpoint.
        noLocalInternal ||= info.internalPolicyLocal;
        noLocalExternal ||= info.externalPolicyLocal;
      }
      const spec: VirtualServerSpec = {
        family,
        protocol: port.protocol,
        address,
        port: vsPort,
        scheduler: ctx.config.scheduler,
        persistenceTimeout: info.affinityTimeout,
        realServers: realServers(chosen.endpoints),
        owner,
        kind,
      };
      // The same address:port twice in one service (an external IP equal to a node address,
      // say): the later one wins, as kube-proxy's later syncService call does.
      acc.vs.set(virtualServerKey(spec), spec);
    };
    const bind = (address: string) => {
      // External and load balancer IPs that are already node addresses stay off kube-ipvs0.
      if (localAddresses.has(address)) return;
      acc.addresses.add(address);
      acc.add(SET.IPVS_IPS, family, address);
    };

    // Hairpin: a local endpoint reaching itself through the service is masqueraded. Every local
    // endpoint counts, whatever its conditions, as in kube-proxy.
    for (const ep of eps) {
      if (ep.local) {
        acc.add(SET.LOOP_BACK, family, `${ep.address},${proto}:${ep.port},${ep.address}`);
      }
    }

    acc.add(SET.CLUSTER_IP, family, `${info.clusterIP},${proto}:${port.port}`);
    addVirtualServer(info.clusterIP, port.port, "cluster-ip", info.internalPolicyLocal);
    acc.addresses.add(info.clusterIP);
    acc.add(SET.IPVS_IPS, family, info.clusterIP);

    for (const ip of info.externalIPs) {
      const entry = `${ip},${proto}:${port.port}`;
      // externalTrafficPolicy Local puts the address only in the -LOCAL set (no masquerade).
      acc.add(info.externalPolicyLocal ? SET.EXTERNAL_IP_LOCAL : SET.EXTERNAL_IP, family, entry);
      addVirtualServer(ip, port.port, "external-ip", info.externalPolicyLocal);
      bind(ip);
    }

    for (const ip of info.loadBalancerVIPs) {
      const entry = `${ip},${proto}:${port.port}`;
      acc.add(SET.LOAD_BALANCER, family, entry);
      if (info.externalPolicyLocal) acc.add(SET.LOAD_BALANCER_LOCAL, family, entry);
      if (info.sourceRanges.length > 0) {
        acc.add(SET.LOAD_BALANCER_FW, family, entry);
        for (const cidr of info.sourceRanges) {
          // As `ipset save` prints it: a host range without its /32 (/128), so that what the
          // kernel holds compares equal.
          const net = cidr.prefix === cidr.bytes.length * 8 ? formatIP(cidr) : formatCIDR(cidr);
          acc.add(SET.LOAD_BALANCER_SOURCE_CIDR, family, `${entry},${net}`);
        }
        // A range that covers the node lets the node reach the load balancer IP (its packets
        // carry the load balancer IP as source); otherwise KUBE-IPVS-OUT-FILTER drops them.
        if (info.sourceRanges.some((c) => cidrContains(c, nodeIP))) {
          acc.add(SET.LOAD_BALANCER_SOURCE_IP, family, `${entry},${ip}`);
        }
      }
      addVirtualServer(ip, port.port, "load-balancer", info.externalPolicyLocal);
      bind(ip);
    }

    if (port.nodePort !== 0) {
      // No node-port address: kube-proxy skips the rest of this port, the health check node
      // port entry included.
      if (nodeAddresses.length === 0) continue;
      const [set, localSet] = NODE_PORT_SETS[port.protocol];
      // bitmap:port sets hold the port; the SCTP sets are hash:ip,port, one entry per address.
      const entries = port.protocol === "SCTP"
        ? nodeAddresses.map((a) => `${a},sctp:${port.nodePort}`)
        : [String(port.nodePort)];
      for (const e of entries) {
        acc.add(set, family, e);
        if (info.externalPolicyLocal) acc.add(localSet, family, e);
      }
      for (const address of nodeAddresses) {
        addVirtualServer(address, port.nodePort, "node-port", info.externalPolicyLocal);
      }
    }

    if (info.healthCheckNodePort !== 0) {
      acc.add(SET.HEALTH_CHECK_NODE_PORT, family, String(info.healthCheckNodePort));
    }
  }
  // The health check server follows the service's ports (kube-proxy's HealthCheckNodePorts),
  // not the set entry above, which a port without node-port addresses skips.
  if (info.healthCheckNodePort !== 0 && svc.spec.ports.length > 0) {
    acc.healthCheckNodePort = info.healthCheckNodePort;
  }
  // kube-proxy's sync_proxy_rules_no_local_endpoints_total counts services, per family.
  if (noLocalInternal) acc.noLocal.internal++;
  if (noLocalExternal) acc.noLocal.external++;
}

function realServers(eps: readonly EndpointInfo[]): VirtualServerSpec["realServers"] {
  // kube-proxy gives every destination weight 1; graceful termination is the reconciler's.
  return eps.map((ep) => ({ address: ep.address, port: ep.port, weight: 1, local: ep.local }));
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

function sortedEntries(entries: Map<string, Set<string>>): IpsetEntry[] {
  const out: IpsetEntry[] = [];
  for (const set of [...entries.keys()].sort()) {
    for (const entry of [...entries.get(set)!].sort()) out.push({ set, entry });
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
