/**
 * kube-proxy's IPVS-mode ipsets: names, types and purposes, as data. IPv6 sets carry the
 * "KUBE-6-" prefix instead of "KUBE-", as kube-proxy names them.
 *
 * Entry formats (the text `ipset add` takes):
 * - hash:ip,port      `10.96.0.1,tcp:443`            (IPv6: `fd00::1,tcp:443`)
 * - hash:ip,port,ip   `10.244.1.2,tcp:8080,10.244.1.2`
 * - hash:ip,port,net  `203.0.113.10,tcp:80,10.0.0.0/8`
 * - hash:ip           `10.96.0.1`
 * - bitmap:port       `30080`
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import type { MemberType } from "../members.ts";

/** ipset types kipvs creates: one per shape of member (dataplane/members.ts). */
export type SetType = MemberType;

/** Every {@link SetType}, for checking a type name read from text or from the kernel. */
export const SET_TYPES: ReadonlySet<string> = new Set<SetType>([
  "hash:ip",
  "hash:ip,port",
  "hash:ip,port,ip",
  "hash:ip,port,net",
  "bitmap:port",
]);

/** Whether `type` is one of the types kipvs creates. */
export function isSetType(type: string): type is SetType {
  return SET_TYPES.has(type);
}

/** One of kube-proxy's sets, family-neutral. */
export interface KubeSet {
  /** The IPv4 name ("KUBE-CLUSTER-IP"); see {@link setName} for IPv6. */
  base: string;
  type: SetType;
  /** kube-proxy's comment, also used on the iptables rules that match the set. */
  comment: string;
}

/** Base names, to refer to sets without typos. */
export const SET = {
  LOOP_BACK: "KUBE-LOOP-BACK",
  CLUSTER_IP: "KUBE-CLUSTER-IP",
  EXTERNAL_IP: "KUBE-EXTERNAL-IP",
  EXTERNAL_IP_LOCAL: "KUBE-EXTERNAL-IP-LOCAL",
  LOAD_BALANCER: "KUBE-LOAD-BALANCER",
  LOAD_BALANCER_FW: "KUBE-LOAD-BALANCER-FW",
  LOAD_BALANCER_LOCAL: "KUBE-LOAD-BALANCER-LOCAL",
  LOAD_BALANCER_SOURCE_IP: "KUBE-LOAD-BALANCER-SOURCE-IP",
  LOAD_BALANCER_SOURCE_CIDR: "KUBE-LOAD-BALANCER-SOURCE-CIDR",
  NODE_PORT_TCP: "KUBE-NODE-PORT-TCP",
  NODE_PORT_LOCAL_TCP: "KUBE-NODE-PORT-LOCAL-TCP",
  NODE_PORT_UDP: "KUBE-NODE-PORT-UDP",
  NODE_PORT_LOCAL_UDP: "KUBE-NODE-PORT-LOCAL-UDP",
  NODE_PORT_SCTP: "KUBE-NODE-PORT-SCTP-HASH",
  NODE_PORT_LOCAL_SCTP: "KUBE-NODE-PORT-LOCAL-SCTP-HASH",
  HEALTH_CHECK_NODE_PORT: "KUBE-HEALTH-CHECK-NODE-PORT",
  IPVS_IPS: "KUBE-IPVS-IPS",
} as const;

/** A base name from {@link SET}. */
export type SetBase = typeof SET[keyof typeof SET];

/** Every set kube-proxy's IPVS mode creates, in kube-proxy's order. */
export const KUBE_SETS: readonly KubeSet[] = [
  {
    base: SET.LOOP_BACK,
    type: "hash:ip,port,ip",
    comment: "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose",
  },
  {
    base: SET.CLUSTER_IP,
    type: "hash:ip,port",
    comment: "Kubernetes service cluster ip + port for masquerade purpose",
  },
  {
    base: SET.EXTERNAL_IP,
    type: "hash:ip,port",
    comment: "Kubernetes service external ip + port for masquerade and filter purpose",
  },
  {
    base: SET.EXTERNAL_IP_LOCAL,
    type: "hash:ip,port",
    comment: "Kubernetes service external ip + port with externalTrafficPolicy=local",
  },
  { base: SET.LOAD_BALANCER, type: "hash:ip,port", comment: "Kubernetes service lb portal" },
  {
    base: SET.LOAD_BALANCER_FW,
    type: "hash:ip,port",
    comment: "Kubernetes service load balancer ip + port for load balancer with sourceRange",
  },
  {
    base: SET.LOAD_BALANCER_LOCAL,
    type: "hash:ip,port",
    comment: "Kubernetes service load balancer ip + port with externalTrafficPolicy=local",
  },
  {
    base: SET.LOAD_BALANCER_SOURCE_IP,
    type: "hash:ip,port,ip",
    comment: "Kubernetes service load balancer ip + port + source IP for packet filter purpose",
  },
  {
    base: SET.LOAD_BALANCER_SOURCE_CIDR,
    type: "hash:ip,port,net",
    comment: "Kubernetes service load balancer ip + port + source cidr for packet filter purpose",
  },
  {
    base: SET.NODE_PORT_TCP,
    type: "bitmap:port",
    comment: "Kubernetes nodeport TCP port for masquerade purpose",
  },
  {
    base: SET.NODE_PORT_LOCAL_TCP,
    type: "bitmap:port",
    comment: "Kubernetes nodeport TCP port with externalTrafficPolicy=local",
  },
  {
    base: SET.NODE_PORT_UDP,
    type: "bitmap:port",
    comment: "Kubernetes nodeport UDP port for masquerade purpose",
  },
  {
    base: SET.NODE_PORT_LOCAL_UDP,
    type: "bitmap:port",
    comment: "Kubernetes nodeport UDP port with externalTrafficPolicy=local",
  },
  {
    base: SET.NODE_PORT_SCTP,
    type: "hash:ip,port",
    comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'",
  },
  {
    base: SET.NODE_PORT_LOCAL_SCTP,
    type: "hash:ip,port",
    comment:
      "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
  },
  {
    base: SET.HEALTH_CHECK_NODE_PORT,
    type: "bitmap:port",
    comment: "Kubernetes health check node port",
  },
  { base: SET.IPVS_IPS, type: "hash:ip", comment: "Kubernetes service IP addresses" },
];

/** The longest ipset name the kernel takes (IPSET_MAXNAMELEN 32, with the terminating NUL). */
export const MAX_SET_NAME = 31;

/**
 * The kernel name of a set for a family: "KUBE-CLUSTER-IP" / "KUBE-6-CLUSTER-IP". Like
 * kube-proxy, IPv6 names longer than 31 characters are cut to 31
 * ("KUBE-6-LOAD-BALANCER-SOURCE-CID", "KUBE-6-NODE-PORT-LOCAL-SCTP-HAS").
 */
export function setName(base: string, family: Family): string {
  return family === 4 ? base : ("KUBE-6-" + base.slice("KUBE-".length)).slice(0, MAX_SET_NAME);
}
