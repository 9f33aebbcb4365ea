/**
 * kube-proxy's IPVS-mode iptables layout as data: the chains it owns per table, the jump rules
 * that link them from the built-in chains, and which ipsets get a rule of their own (the
 * `iptablesChains`, `iptablesJumpChain` and `ipsetWithIptablesChain` tables of
 * pkg/proxy/ipvs/proxier.go, in the version with KUBE-IPVS-FILTER and KUBE-IPVS-OUT-FILTER).
 * That version has no KUBE-FIREWALL chain in the nat table: load balancer source ranges are
 * enforced in filter's KUBE-PROXY-FIREWALL.
 *
 * @module
 */

import { SET, type SetBase } from "../ipset/sets.ts";
import type { JumpRule, RuleProtocol, SetDirections, Table } from "../rules.ts";

export type { JumpRule, Table };

/** Chain names, to refer to them without typos. */
export const CHAIN = {
  SERVICES: "KUBE-SERVICES",
  POSTROUTING: "KUBE-POSTROUTING",
  NODE_PORT: "KUBE-NODE-PORT",
  LOAD_BALANCER: "KUBE-LOAD-BALANCER",
  MARK_MASQ: "KUBE-MARK-MASQ",
  FORWARD: "KUBE-FORWARD",
  PROXY_FIREWALL: "KUBE-PROXY-FIREWALL",
  SOURCE_RANGES_FIREWALL: "KUBE-SOURCE-RANGES-FIREWALL",
  IPVS_FILTER: "KUBE-IPVS-FILTER",
  IPVS_OUT_FILTER: "KUBE-IPVS-OUT-FILTER",
} as const;

/** The chains kipvs owns (creates, rewrites, deletes), per table, in kube-proxy's order. */
export const OWNED_CHAINS: Readonly<Record<Table, readonly string[]>> = {
  nat: [CHAIN.SERVICES, CHAIN.POSTROUTING, CHAIN.NODE_PORT, CHAIN.LOAD_BALANCER, CHAIN.MARK_MASQ],
  filter: [
    CHAIN.FORWARD,
    CHAIN.NODE_PORT,
    CHAIN.PROXY_FIREWALL,
    CHAIN.SOURCE_RANGES_FIREWALL,
    CHAIN.IPVS_FILTER,
    CHAIN.IPVS_OUT_FILTER,
  ],
};

/**
 * kube-proxy's jump rules, in the order it ensures them. Each missing one is inserted at the top
 * of its built-in chain, so on a fresh node INPUT reads KUBE-IPVS-FILTER, KUBE-PROXY-FIREWALL,
 * KUBE-NODE-PORT and FORWARD reads KUBE-PROXY-FIREWALL, KUBE-FORWARD.
 */
export const JUMP_RULES: readonly JumpRule[] = [
  { table: "nat", from: "OUTPUT", to: CHAIN.SERVICES, comment: "kubernetes service portals" },
  { table: "nat", from: "PREROUTING", to: CHAIN.SERVICES, comment: "kubernetes service portals" },
  {
    table: "nat",
    from: "POSTROUTING",
    to: CHAIN.POSTROUTING,
    comment: "kubernetes postrouting rules",
  },
  { table: "filter", from: "FORWARD", to: CHAIN.FORWARD, comment: "kubernetes forwarding rules" },
  {
    table: "filter",
    from: "INPUT",
    to: CHAIN.NODE_PORT,
    comment: "kubernetes health check rules",
  },
  {
    table: "filter",
    from: "INPUT",
    to: CHAIN.PROXY_FIREWALL,
    comment: "kube-proxy firewall rules",
  },
  {
    table: "filter",
    from: "FORWARD",
    to: CHAIN.PROXY_FIREWALL,
    comment: "kube-proxy firewall rules",
  },
  {
    table: "filter",
    from: "INPUT",
    to: CHAIN.IPVS_FILTER,
    comment: "kubernetes ipvs access filter",
  },
  {
    table: "filter",
    from: "OUTPUT",
    to: CHAIN.IPVS_OUT_FILTER,
    comment: "kubernetes ipvs access filter",
  },
];

/** A set whose non-emptiness adds one rule `-A from [-p proto] ... --match-set SET match -j to`. */
export interface SetRule {
  set: SetBase;
  table: Table;
  from: string;
  to: string;
  match: SetDirections;
  protocol?: RuleProtocol;
}

/**
 * kube-proxy's `ipsetWithIptablesChain`, in its order (a LOCAL node-port set comes before the
 * plain one, so that Local traffic returns before it is marked for masquerade).
 */
export const SET_RULES: readonly SetRule[] = [
  {
    set: SET.LOOP_BACK,
    table: "nat",
    from: CHAIN.POSTROUTING,
    to: "MASQUERADE",
    match: "dst,dst,src",
  },
  {
    set: SET.LOAD_BALANCER,
    table: "nat",
    from: CHAIN.SERVICES,
    to: CHAIN.LOAD_BALANCER,
    match: "dst,dst",
  },
  {
    set: SET.LOAD_BALANCER_LOCAL,
    table: "nat",
    from: CHAIN.LOAD_BALANCER,
    to: "RETURN",
    match: "dst,dst",
  },
  {
    set: SET.NODE_PORT_LOCAL_TCP,
    table: "nat",
    from: CHAIN.NODE_PORT,
    to: "RETURN",
    match: "dst",
    protocol: "tcp",
  },
  {
    set: SET.NODE_PORT_TCP,
    table: "nat",
    from: CHAIN.NODE_PORT,
    to: CHAIN.MARK_MASQ,
    match: "dst",
    protocol: "tcp",
  },
  {
    set: SET.NODE_PORT_LOCAL_UDP,
    table: "nat",
    from: CHAIN.NODE_PORT,
    to: "RETURN",
    match: "dst",
    protocol: "udp",
  },
  {
    set: SET.NODE_PORT_UDP,
    table: "nat",
    from: CHAIN.NODE_PORT,
    to: CHAIN.MARK_MASQ,
    match: "dst",
    protocol: "udp",
  },
  {
    set: SET.NODE_PORT_LOCAL_SCTP,
    table: "nat",
    from: CHAIN.NODE_PORT,
    to: "RETURN",
    match: "dst,dst",
    protocol: "sctp",
  },
  {
    set: SET.NODE_PORT_SCTP,
    table: "nat",
    from: CHAIN.NODE_PORT,
    to: CHAIN.MARK_MASQ,
    match: "dst,dst",
    protocol: "sctp",
  },
  {
    set: SET.LOAD_BALANCER_FW,
    table: "filter",
    from: CHAIN.PROXY_FIREWALL,
    to: CHAIN.SOURCE_RANGES_FIREWALL,
    match: "dst,dst",
  },
  {
    set: SET.LOAD_BALANCER_SOURCE_CIDR,
    table: "filter",
    from: CHAIN.SOURCE_RANGES_FIREWALL,
    to: "RETURN",
    match: "dst,dst,src",
  },
  {
    set: SET.LOAD_BALANCER_SOURCE_IP,
    table: "filter",
    from: CHAIN.SOURCE_RANGES_FIREWALL,
    to: "RETURN",
    match: "dst,dst,src",
  },
];
