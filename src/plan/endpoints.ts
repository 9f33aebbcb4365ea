/**
 * Endpoint selection, as kube-proxy does it:
 * - {@link collectEndpoints}: the endpoints of each service port for one IP family, from all the
 *   service's EndpointSlices, deduplicated (pkg/proxy/endpointslicecache.go);
 * - {@link categorizeEndpoints}: the usable Cluster-policy and Local-policy endpoints, with the
 *   ready → serving-and-terminating fallback and topology hints (pkg/proxy/topology.go);
 * - {@link endpointsForVirtualServer}: what one IPVS virtual server gets, with the IPVS proxier's
 *   fallback to Cluster endpoints when a Local policy finds no local endpoint
 *   (pkg/proxy/ipvs/proxier.go `syncEndpoint`).
 *
 * @module
 */

import type { EndpointSlice, Protocol } from "../k8s/types.ts";
import { canonicalIP } from "../net/ip.ts";
import type { Family } from "../net/family.ts";

/** One endpoint of one service port. */
export interface EndpointInfo {
  /** Canonical address (the first of the endpoint's addresses, as kube-proxy uses). */
  address: string;
  /** The EndpointSlice port whose name and protocol match the service port. */
  port: number;
  /** On this node (`nodeName` equals the proxy's node name). */
  local: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** Topology hints; empty when the endpoint has none. */
  zoneHints: readonly string[];
  nodeHints: readonly string[];
}

/** Shared by every endpoint without hints (most of them): one array, not one each. */
const NO_HINTS: readonly string[] = Object.freeze([]);

/** "10.0.0.1:80", "[fd00::1]:80": kube-proxy's endpoint string, the key of deduplication. */
export function endpointString(ep: Pick<EndpointInfo, "address" | "port">): string {
  return ep.address.includes(":") ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}

/** The key that joins a service port to EndpointSlice ports: protocol and name. */
export function portKey(port: { name: string; protocol: Protocol }): string {
  return `${port.protocol}/${port.name}`;
}

/** Options of {@link collectEndpoints}. */
export interface CollectOptions {
  family: Family;
  /** This node's name; endpoints with this `nodeName` are local. "" makes none local. */
  nodeName: string;
}

/**
 * The endpoints of a service for one family, by {@link portKey}, each list sorted by
 * {@link endpointString}. Slices of the other family are ignored. An endpoint found twice (it
 * moved between slices, or a new pod reuses a terminating pod's IP) is kept once, preferring a
 * non-terminating copy. Endpoints of every condition are kept: selection comes later.
 */
export function collectEndpoints(
  slices: Iterable<EndpointSlice>,
  options: CollectOptions,
): Map<string, EndpointInfo[]> {
  const want = options.family === 4 ? "IPv4" : "IPv6";
  const ordered: EndpointSlice[] = [];
  for (const s of slices) if (s.addressType === want) ordered.push(s);
  // Sorted by name so that the rare tie between two non-terminating copies is decided the same
  // way every time (kube-proxy's order there is a map's).
  if (ordered.length > 1) ordered.sort((a, b) => compareText(a.metadata.name, b.metadata.name));
  const byPort = new Map<string, Candidate[]>();
  for (const slice of ordered) {
    for (const sp of slice.ports) {
      if (!sp.port) continue;
      const key = portKey(sp);
      let list = byPort.get(key);
      if (!list) byPort.set(key, list = []);
      for (const ep of slice.endpoints) {
        const info = endpointInfo(ep, sp.port, options);
        if (info) list.push({ id: endpointString(info), info });
      }
    }
  }
  const out = new Map<string, EndpointInfo[]>();
  for (const [key, list] of byPort) {
    if (list.length > 0) out.set(key, deduplicated(list));
  }
  return out;
}

/** An endpoint and its {@link endpointString}. */
interface Candidate {
  id: string;
  info: EndpointInfo;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One endpoint of a slice port, undefined when its first address is not of the family. */
function endpointInfo(
  ep: EndpointSlice["endpoints"][number],
  port: number,
  options: CollectOptions,
): EndpointInfo | undefined {
  const first = ep.addresses[0];
  const address = first === undefined ? undefined : canonicalIP(first);
  // Canonical text: IPv6 has a colon, IPv4 none (IPv4-mapped addresses are refused).
  if (address === undefined || (address.includes(":") ? 6 : 4) !== options.family) {
    return undefined;
  }
  return {
    address,
    port,
    local: options.nodeName !== "" && ep.nodeName === options.nodeName,
    ready: ep.conditions.ready,
    serving: ep.conditions.serving,
    terminating: ep.conditions.terminating,
    zoneHints: ep.hints?.forZones ?? NO_HINTS,
    nodeHints: ep.hints?.forNodes ?? NO_HINTS,
  };
}

/**
 * The candidates sorted by id, one per id: of the copies of an endpoint (in slice order), the
 * first, replaced by each later copy that is not terminating. Sorted first (stable, so copies
 * keep their order) then one pass, rather than a map of ids: most lists have no copy at all.
 */
function deduplicated(list: Candidate[]): EndpointInfo[] {
  list.sort((a, b) => compareText(a.id, b.id));
  const out: EndpointInfo[] = [];
  let last = "";
  for (const c of list) {
    if (out.length > 0 && c.id === last) {
      if (!c.info.terminating) out[out.length - 1] = c.info;
    } else {
      out.push(c.info);
      last = c.id;
    }
  }
  return out;
}

/** The traffic policies of one service port (see serviceinfo.ts). */
export interface PortPolicy {
  internalPolicyLocal: boolean;
  externalPolicyLocal: boolean;
  /** Reachable through a node port, a load balancer VIP or an external IP. */
  externallyAccessible: boolean;
}

/** Where the proxy runs, for topology. */
export interface TopologyContext {
  nodeName: string;
  /** The node's `topology.kubernetes.io/zone` label; "" or undefined when unlabelled. */
  zone?: string;
}

/** Topology modes kube-proxy derives from hints ("" = none). */
export type TopologyMode = "" | "PreferSameZone" | "PreferSameNode";

/** The outcome of {@link categorizeEndpoints}. */
export interface CategorizedEndpoints {
  /** Usable Cluster-policy endpoints; undefined when the port never uses Cluster policy. */
  cluster?: EndpointInfo[];
  /** Usable Local-policy endpoints; undefined when the port never uses Local policy. */
  local?: EndpointInfo[];
  /** Some usable endpoint exists anywhere in the cluster. */
  hasAny: boolean;
  /** The topology mode that filtered `cluster`. */
  topologyMode: TopologyMode;
}

/**
 * kube-proxy's `topologyModeFromHints`: PreferSameNode when every ready endpoint has a node hint
 * and one names this node; else PreferSameZone when every ready endpoint has a zone hint and one
 * names this node's zone; else none. (Node hints are what `trafficDistribution:
 * PreferSameNode` produces; kube-proxy honours them since 1.34, GA in 1.35.)
 */
export function topologyMode(
  endpoints: readonly EndpointInfo[],
  topo: TopologyContext,
): TopologyMode {
  const zone = topo.zone ?? "";
  let allNode = true, forNode = false, allZone = true, forZone = false;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (ep.nodeHints.length === 0) allNode = false;
    else if (ep.nodeHints.includes(topo.nodeName)) forNode = true;
    if (ep.zoneHints.length === 0) allZone = false;
    else if (ep.zoneHints.includes(zone)) forZone = true;
  }
  if (allNode && forNode) return "PreferSameNode";
  if (allZone && forZone) return "PreferSameZone";
  return "";
}

/**
 * kube-proxy's `CategorizeEndpoints`. Cluster endpoints: ready ones (narrowed by topology), or
 * when none is ready anywhere, the serving-and-terminating ones. Local endpoints: ready local
 * ones, or when none, serving-and-terminating local ones.
 */
export function categorizeEndpoints(
  endpoints: readonly EndpointInfo[],
  policy: PortPolicy,
  topo: TopologyContext,
): CategorizedEndpoints {
  const usesCluster = !policy.internalPolicyLocal || policy.externallyAccessible;
  const usesLocal = policy.internalPolicyLocal ||
    (policy.externalPolicyLocal && policy.externallyAccessible);
  const out: CategorizedEndpoints = { hasAny: false, topologyMode: "" };
  if (usesCluster) {
    const mode = topologyMode(endpoints, topo);
    out.topologyMode = mode;
    const zone = topo.zone ?? "";
    let cluster = endpoints.filter((ep) =>
      ep.ready && (mode === "" ||
        (mode === "PreferSameNode"
          ? ep.nodeHints.includes(topo.nodeName)
          : ep.zoneHints.includes(zone)))
    );
    if (cluster.length === 0) cluster = endpoints.filter((ep) => ep.serving && ep.terminating);
    out.cluster = cluster;
    if (cluster.length > 0) out.hasAny = true;
  }
  if (!usesLocal) return out;
  let localReady = false, localTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      out.hasAny = true;
      if (ep.local) localReady = true;
    } else if (ep.serving && ep.terminating) {
      out.hasAny = true;
      if (ep.local) localTerminating = true;
    }
  }
  if (localReady) out.local = endpoints.filter((ep) => ep.local && ep.ready);
  else if (localTerminating) {
    out.local = endpoints.filter((ep) => ep.local && ep.serving && ep.terminating);
  } else out.local = [];
  return out;
}

/** What one virtual server gets, and whether a Local policy found no local endpoint. */
export interface VirtualServerEndpoints {
  endpoints: EndpointInfo[];
  /** The Local policy fell back (or would have) for lack of local endpoints. */
  noLocal: boolean;
}

/**
 * The IPVS proxier's choice for one virtual server. With `onlyNodeLocal` (internalTrafficPolicy
 * Local for a cluster IP, externalTrafficPolicy Local for external, load balancer and node-port
 * addresses) the local endpoints, or when there are none, the Cluster endpoints: the IPVS mode's
 * fallback (kubernetes#97081) that keeps the service reachable from local pods. kube-proxy's
 * iptables and nftables modes drop such traffic instead; kipvs follows the IPVS mode.
 */
export function endpointsForVirtualServer(
  cat: CategorizedEndpoints,
  onlyNodeLocal: boolean,
): VirtualServerEndpoints {
  if (!onlyNodeLocal) return { endpoints: cat.cluster ?? [], noLocal: false };
  if (cat.local && cat.local.length > 0) return { endpoints: cat.local, noLocal: false };
  return { endpoints: cat.cluster ?? [], noLocal: cat.hasAny };
}
