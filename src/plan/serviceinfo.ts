/**
 * What a Service means to the proxy of one IP family, the way kube-proxy reads it
 * (pkg/proxy/service.go `newBaseServiceInfo`, pkg/proxy/util `ShouldSkipService`,
 * `GetClusterIPByFamily`, pkg/api/v1/service `ExternalPolicyLocal` and friends).
 *
 * @module
 */

import {
  HEADLESS_LABEL,
  type IPFamily,
  type Service,
  SERVICE_PROXY_NAME_LABEL,
  type ServicePort,
} from "../k8s/types.ts";
import { canonicalIP, type CIDR, ipFamily, parseCIDR } from "../net/ip.ts";
import type { Family } from "../net/family.ts";

/** Why a service is not proxied at all, or undefined when it is. */
export type SkipReason =
  | "headless" // clusterIP "None" or unset
  | "external-name"
  | "service-proxy-name" // handed to another proxy by label
  | "headless-label";

/**
 * Why kube-proxy would not proxy `svc`. The two labels are filtered by kube-proxy's informers
 * (label selector); the other two by `ShouldSkipService`.
 */
export function skipReason(svc: Service): SkipReason | undefined {
  const labels = svc.metadata.labels;
  if (SERVICE_PROXY_NAME_LABEL in labels) return "service-proxy-name";
  if (HEADLESS_LABEL in labels) return "headless-label";
  const ip = svc.spec.clusterIP;
  if (ip === "" || ip === "None") return "headless";
  if (svc.spec.type === "ExternalName") return "external-name";
  return undefined;
}

const FAMILY_NAME: Record<Family, IPFamily> = { 4: "IPv4", 6: "IPv6" };

/**
 * The service's cluster IP of `family` (canonical), like kube-proxy's `GetClusterIPByFamily`:
 * with `ipFamilies` set, the cluster IP at the same index; without, `clusterIP` if it is of
 * that family.
 */
export function clusterIPByFamily(svc: Service, family: Family): string | undefined {
  const spec = svc.spec;
  let ip: string | undefined;
  if (spec.ipFamilies.length === 0) {
    if (ipFamily(spec.clusterIP) === family) ip = spec.clusterIP;
  } else {
    // An object written by hand may carry only `clusterIP`; it is the primary cluster IP.
    const ips = spec.clusterIPs.length ? spec.clusterIPs : [spec.clusterIP];
    const idx = spec.ipFamilies.indexOf(FAMILY_NAME[family]);
    if (idx >= 0) ip = ips[idx];
  }
  if (ip === undefined || ip === "" || ip === "None") return undefined;
  const c = canonicalIP(ip);
  return c !== undefined && ipFamily(c) === family ? c : undefined;
}

/** ExternalName aside, a service is reachable from outside by type or by external IPs. */
export function externallyAccessible(svc: Service): boolean {
  const t = svc.spec.type;
  return t === "LoadBalancer" || t === "NodePort" ||
    (t === "ClusterIP" && svc.spec.externalIPs.length > 0);
}

/** One Service seen by the proxy of one family: everything but the ports. */
export interface FamilyServiceInfo {
  family: Family;
  clusterIP: string;
  /** External IPs of this family, canonical, in spec order. */
  externalIPs: string[];
  /** Load balancer ingress IPs of this family whose ipMode is VIP or unset, canonical. */
  loadBalancerVIPs: string[];
  /** `loadBalancerSourceRanges` of this family, host bits cleared. */
  sourceRanges: CIDR[];
  /** ClientIP affinity timeout in seconds; 0 without affinity. */
  affinityTimeout: number;
  /** externalTrafficPolicy Local on an externally accessible service. */
  externalPolicyLocal: boolean;
  /** internalTrafficPolicy Local. */
  internalPolicyLocal: boolean;
  /** Only for LoadBalancer services with externalTrafficPolicy Local; else 0. */
  healthCheckNodePort: number;
}

function uniqueOfFamily(texts: readonly string[], family: Family): string[] {
  const out: string[] = [];
  for (const t of texts) {
    const c = canonicalIP(t.trim());
    if (c !== undefined && ipFamily(c) === family && !out.includes(c)) out.push(c);
  }
  return out;
}

/**
 * The service as the proxy of `family` sees it, or undefined when it has no cluster IP of that
 * family (kube-proxy's per-family service change tracker drops it then). Addresses of the
 * other family are ignored, as kube-proxy ignores them.
 */
export function familyServiceInfo(svc: Service, family: Family): FamilyServiceInfo | undefined {
  const clusterIP = clusterIPByFamily(svc, family);
  if (clusterIP === undefined) return undefined;
  const spec = svc.spec;
  const externalPolicyLocal = externallyAccessible(svc) && spec.externalTrafficPolicy === "Local";
  const sourceRanges: CIDR[] = [];
  for (const text of spec.loadBalancerSourceRanges) {
    const cidr = parseCIDR(text.trim());
    if (cidr && cidr.family === family) sourceRanges.push(cidr);
  }
  const vipIngress = svc.status.loadBalancer.ingress
    .filter((ing) => ing.ip && (ing.ipMode === undefined || ing.ipMode === "VIP"))
    .map((ing) => ing.ip!);
  return {
    family,
    clusterIP,
    externalIPs: uniqueOfFamily(spec.externalIPs, family),
    loadBalancerVIPs: uniqueOfFamily(vipIngress, family),
    sourceRanges,
    affinityTimeout: spec.sessionAffinity === "ClientIP" ? spec.sessionAffinityTimeoutSeconds : 0,
    externalPolicyLocal,
    internalPolicyLocal: spec.internalTrafficPolicy === "Local",
    healthCheckNodePort: spec.type === "LoadBalancer" && externalPolicyLocal
      ? spec.healthCheckNodePort
      : 0,
  };
}

/**
 * Whether traffic reaches this port other than through the cluster IP (a node port, a load
 * balancer VIP or an external IP of this family): kube-proxy's per-port `ExternallyAccessible`.
 */
export function portExternallyAccessible(info: FamilyServiceInfo, port: ServicePort): boolean {
  return port.nodePort !== 0 || info.loadBalancerVIPs.length > 0 || info.externalIPs.length > 0;
}
