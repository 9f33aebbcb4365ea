/**
 * Builders of validated Kubernetes objects (API defaults filled in, as validate.ts leaves them)
 * and a text dump of desired state, for scenario tests written as sorted lines.
 */

import type {
  EndpointSlice,
  IPFamily,
  LoadBalancerIngress,
  Protocol,
  Service,
  ServicePort,
  ServiceType,
} from "../../src/k8s/types.ts";
import { SERVICE_NAME_LABEL } from "../../src/k8s/types.ts";
import type { ClusterState } from "../../src/source/source.ts";
import type { Family } from "../../src/net/family.ts";
import { DEFAULT_CONFIG, type NodeInfo } from "../../src/config/config.ts";
import type { DesiredState } from "../../src/plan/desired.ts";
import { plan, type PlanContext } from "../../src/plan/plan.ts";

/** Options of {@link svc}. */
export interface SvcOptions {
  ns?: string;
  name: string;
  type?: ServiceType;
  /** Primary first; the families follow from the addresses unless `families` is given. */
  ips?: string[];
  families?: IPFamily[];
  ports?: Partial<ServicePort>[];
  externalIPs?: string[];
  etp?: "Cluster" | "Local";
  itp?: "Cluster" | "Local";
  affinity?: number;
  hcnp?: number;
  sourceRanges?: string[];
  ingress?: LoadBalancerIngress[];
  labels?: Record<string, string>;
}

/** A Service; one TCP port 80 named "http" unless told otherwise. */
export function svc(o: SvcOptions): Service {
  const ips = o.ips ?? ["10.96.0.10"];
  const families = o.families ??
    (ips[0] === "None" || ips[0] === "" ? [] : ips.map((ip) => ip.includes(":") ? "IPv6" : "IPv4"));
  return {
    kind: "Service",
    metadata: {
      name: o.name,
      namespace: o.ns ?? "default",
      labels: o.labels ?? {},
      annotations: {},
    },
    spec: {
      type: o.type ?? "ClusterIP",
      clusterIP: ips[0] ?? "",
      clusterIPs: ips[0] === "None" ? ["None"] : ips,
      ipFamilies: families as IPFamily[],
      ports: (o.ports ?? [{}]).map((p) => ({
        name: p.name ?? "http",
        protocol: p.protocol ?? "TCP",
        port: p.port ?? 80,
        targetPort: p.targetPort,
        nodePort: p.nodePort ?? 0,
      })),
      externalIPs: o.externalIPs ?? [],
      sessionAffinity: o.affinity ? "ClientIP" : "None",
      sessionAffinityTimeoutSeconds: o.affinity ?? 10800,
      externalTrafficPolicy: o.etp ?? "Cluster",
      internalTrafficPolicy: o.itp ?? "Cluster",
      healthCheckNodePort: o.hcnp ?? 0,
      loadBalancerSourceRanges: o.sourceRanges ?? [],
    },
    status: { loadBalancer: { ingress: o.ingress ?? [] } },
  };
}

/** One endpoint of {@link slice}: "ip" or "ip@node", conditions default to ready. */
export interface EpOptions {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zones?: string[];
  nodes?: string[];
}

/** Options of {@link slice}. */
export interface SliceOptions {
  ns?: string;
  /** The service's name. */
  service: string;
  name?: string;
  ports?: { name?: string; protocol?: Protocol; port: number }[];
  endpoints: (string | EpOptions)[];
  labels?: Record<string, string>;
}

let sliceSeq = 0;

/**
 * An EndpointSlice of `service`; port "http"/TCP/8080 unless told otherwise; "ip@node" strings
 * make ready endpoints on a node. The address type follows the first endpoint.
 */
export function slice(o: SliceOptions): EndpointSlice {
  const eps = o.endpoints.map((e) => {
    if (typeof e !== "string") return e;
    const [ip, node] = e.split("@");
    return { ip: ip!, node };
  });
  const first = eps[0]?.ip ?? "";
  return {
    kind: "EndpointSlice",
    metadata: {
      name: o.name ?? `${o.service}-${++sliceSeq}`,
      namespace: o.ns ?? "default",
      labels: { [SERVICE_NAME_LABEL]: o.service, ...o.labels },
      annotations: {},
    },
    addressType: first.includes(":") ? "IPv6" : "IPv4",
    ports: (o.ports ?? [{ port: 8080 }]).map((p) => ({
      name: p.name ?? "http",
      protocol: p.protocol ?? "TCP",
      port: p.port,
    })),
    endpoints: eps.map((e) => {
      const ready = e.ready ?? !(e.terminating ?? false);
      return {
        addresses: [e.ip],
        conditions: { ready, serving: e.serving ?? ready, terminating: e.terminating ?? false },
        ...(e.node ? { nodeName: e.node } : {}),
        ...(e.zones || e.nodes
          ? { hints: { forZones: e.zones ?? [], forNodes: e.nodes ?? [] } }
          : {}),
      };
    }),
  };
}

/** The node the scenarios run on: "node-a" in zone-a, 192.168.1.10 and fd00:1::10. */
export const NODE: NodeInfo = {
  name: "node-a",
  zone: "zone-a",
  nodePortAddresses: { 4: ["192.168.1.10"], 6: ["fd00:1::10"] },
  ips: { 4: "192.168.1.10", 6: "fd00:1::10" },
  localAddresses: ["192.168.1.10", "fd00:1::10"],
};

/** Options of {@link ctx}. */
export interface CtxOptions {
  node?: Partial<NodeInfo>;
  families?: Family[];
  scheduler?: string;
}

/** A plan context on {@link NODE} with kube-proxy's defaults. */
export function ctx(o: CtxOptions = {}): PlanContext {
  return {
    config: { ...DEFAULT_CONFIG, families: o.families ?? [4, 6], scheduler: o.scheduler ?? "rr" },
    node: { ...NODE, ...o.node },
  };
}

/** A cluster state of these objects. */
export function cluster(...objects: (Service | EndpointSlice)[]): ClusterState {
  const services = new Map<string, Service>();
  const endpointSlices = new Map<string, EndpointSlice>();
  for (const o of objects) {
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    if (o.kind === "Service") services.set(key, o);
    else endpointSlices.set(key, o);
  }
  return { services, endpointSlices };
}

/**
 * Desired state as sorted lines:
 *   vs TCP/10.96.0.10:80 rr cluster-ip default/web:http [persistent 10800]
 *   rs TCP/10.96.0.10:80 10.244.1.2:8080 [local] [weight N]
 *   addr 10.96.0.10
 *   set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
 *   hc default/web 32000 local=1
 *   no-local internal=1 external=0
 */
export function dump(state: DesiredState): string[] {
  const lines: string[] = [];
  for (const [key, vs] of state.virtualServers) {
    const o = vs.owner;
    lines.push(
      `vs ${key} ${vs.scheduler} ${vs.kind} ${o.namespace}/${o.name}:${o.port}` +
        (vs.persistenceTimeout ? ` persistent ${vs.persistenceTimeout}` : ""),
    );
    for (const rs of vs.realServers) {
      const host = rs.address.includes(":") ? `[${rs.address}]` : rs.address;
      lines.push(
        `rs ${key} ${host}:${rs.port}${rs.local ? " local" : ""}` +
          (rs.weight !== 1 ? ` weight ${rs.weight}` : ""),
      );
    }
  }
  for (const a of state.addresses) lines.push(`addr ${a}`);
  for (const [set, members] of state.ipsets) {
    for (const key of members.keys()) lines.push(`set ${set} ${key}`);
  }
  for (const hc of state.healthChecks) {
    lines.push(`hc ${hc.namespace}/${hc.name} ${hc.nodePort} local=${hc.localEndpoints}`);
  }
  const n = state.noLocalEndpoints;
  if (n.internal || n.external) {
    lines.push(`no-local internal=${n.internal} external=${n.external}`);
  }
  return lines.sort();
}

/** Lines of a template literal, trimmed, blank lines and `#` comments dropped, sorted. */
export function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).sort();
}

/** plan() of these objects on the scenario node, dumped. */
export function planDump(
  objects: (Service | EndpointSlice)[],
  o: CtxOptions = {},
): string[] {
  return dump(plan(cluster(...objects), ctx(o)));
}
