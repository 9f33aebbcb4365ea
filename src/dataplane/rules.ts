/**
 * Packet-filter rules as data, for any rules backend: the planner (plan/rules.ts) writes
 * kube-proxy's rules in this form, and a backend renders them (iptables/render.ts to the text
 * `iptables-save` prints; a native nftables backend to its own). Matches keep the order
 * kube-proxy gives them, since iptables prints them in that order.
 *
 * @module
 */

import type { Family } from "../net/family.ts";

/** The two tables kube-proxy's IPVS mode writes. */
export type Table = "nat" | "filter";

/** A transport protocol a rule can match. */
export type RuleProtocol = "tcp" | "udp" | "sctp";

/** Which packet fields an ipset match compares, one per dimension of the set ("dst,dst,src"). */
export type SetDirections = "src" | "dst" | "dst,dst" | "src,dst" | "dst,dst,src";

/** One condition of a rule. */
export type Match =
  /** Source address inside (or, negated, outside) a CIDR. */
  | { kind: "source"; cidr: string; negate?: boolean }
  | { kind: "protocol"; protocol: RuleProtocol }
  /** A comment: no condition, but part of the rule's identity. */
  | { kind: "comment"; text: string }
  /** The packet is in the set, its fields taken as `directions` says. */
  | { kind: "set"; set: string; directions: SetDirections }
  /** The packet did (or, negated, did not) come in through a bridge port. */
  | { kind: "bridged"; negate?: boolean }
  /** The source or destination address is (or is not) one of the node's. */
  | { kind: "local"; address: "source" | "destination"; negate?: boolean }
  /** The firewall mark has these bits (`mark & mask == value`). */
  | { kind: "mark"; value: number; mask: number; negate?: boolean }
  | { kind: "ctstate"; states: readonly ("NEW" | "RELATED" | "ESTABLISHED")[] }
  /** The connection belongs to this IPVS virtual server. */
  | { kind: "ipvs"; protocol: RuleProtocol; address: string; port: number };

/** What a matching packet meets. */
export type Verdict =
  | { kind: "jump"; chain: string }
  | { kind: "accept" | "drop" | "return" }
  /** Refused with an ICMP port unreachable of the rule's family. */
  | { kind: "reject" }
  | { kind: "masquerade"; randomFully: boolean }
  /** `mark = (mark & ~mask) ^ value`. */
  | { kind: "set-mark"; value: number; mask: number };

/** One rule of an owned chain. */
export interface Rule {
  chain: string;
  matches: readonly Match[];
  verdict: Verdict;
}

/** A rule in a built-in chain that jumps to an owned chain. */
export interface JumpRule {
  table: Table;
  /** The built-in chain ("PREROUTING", "INPUT", ...). */
  from: string;
  to: string;
  comment: string;
}

/** The owned chains of one table and their rules. */
export interface TableRuleSet {
  /** Owned chains in kube-proxy's order. */
  chains: readonly string[];
  /** Rules per owned chain, in order; a chain without rules maps to []. */
  rules: Map<string, Rule[]>;
}

/** Everything kipvs wants in one family's packet filter. */
export interface RuleSet {
  family: Family;
  tables: Record<Table, TableRuleSet>;
  /** Jump rules from the built-in chains, in kube-proxy's order. */
  jumps: readonly JumpRule[];
}
