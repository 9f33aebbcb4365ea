/**
 * Load balancer addresses the node itself must not reach (kubernetes#119656): those whose
 * `loadBalancerSourceRanges` leave the node's IP out. kube-proxy drops the node's own packets to
 * them in KUBE-IPVS-OUT-FILTER, because through IPVS they would carry the load balancer IP as
 * source and slip past the source-range check.
 *
 * @module
 */

import { SET, setName } from "../dataplane/ipset/sets.ts";
import type { Protocol } from "../k8s/types.ts";
import type { Family } from "../net/family.ts";
import type { DesiredState } from "./desired.ts";

/** One load balancer address and port, as KUBE-IPVS-OUT-FILTER matches it. */
export interface LoadBalancerPort {
  address: string;
  protocol: Protocol;
  port: number;
}

const PROTOCOLS: Record<string, Protocol> = { tcp: "TCP", udp: "UDP", sctp: "SCTP" };

/**
 * The load balancer ports of `family` with source ranges that do not cover the node: entries of
 * KUBE-LOAD-BALANCER-FW without a KUBE-LOAD-BALANCER-SOURCE-IP twin. Sorted as the sets sort.
 */
export function loadBalancerNoNodeAccess(state: DesiredState, family: Family): LoadBalancerPort[] {
  const fw = state.ipsets.get(setName(SET.LOAD_BALANCER_FW, family)) ?? new Set<string>();
  const allowed = state.ipsets.get(setName(SET.LOAD_BALANCER_SOURCE_IP, family)) ??
    new Set<string>();
  const out: LoadBalancerPort[] = [];
  for (const entry of [...fw].sort()) {
    // "203.0.113.10,tcp:80" (IPv6: "2001:db8::10,tcp:80"): the address never holds a comma.
    const comma = entry.indexOf(",");
    const address = entry.slice(0, comma);
    if (allowed.has(`${entry},${address}`)) continue;
    const [proto, port] = entry.slice(comma + 1).split(":");
    const protocol = PROTOCOLS[proto ?? ""];
    if (protocol === undefined || port === undefined) continue;
    out.push({ address, protocol, port: Number(port) });
  }
  return out;
}
