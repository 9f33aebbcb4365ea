/**
 * Which node addresses serve node ports (`--nodeport-addresses`), and the node's primary IPs,
 * as kube-proxy's IPVS mode decides them (pkg/proxy/util/nodeport_addresses.go,
 * cmd/kube-proxy/app/server.go `detectNodeIPs`, pkg/proxy/ipvs/proxier.go `syncProxyRules`).
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type { Node } from "../k8s/types.ts";
import {
  type CIDR,
  cidrContains,
  formatIP,
  type IP,
  isLinkLocalUnicast,
  isLoopback,
  isZeroCIDR,
  parseCIDR,
  parseIP,
} from "../net/ip.ts";
import type { Family } from "../net/family.ts";

/** The dummy interface that holds service addresses. */
export const DUMMY_DEVICE = "kube-ipvs0";

/** The value of `--nodeport-addresses` that means "the node's primary IPs". */
export const NODEPORT_ADDRESSES_PRIMARY = "primary";

/** One address of one interface, as `Deno.networkInterfaces()` lists it. */
export interface InterfaceAddress {
  name: string;
  address: string;
  family: "IPv4" | "IPv6";
}

/** Addresses per family, canonical, sorted, without duplicates. */
export interface AddressesByFamily {
  4: string[];
  6: string[];
}

/** The node's primary IP of each family (kube-proxy's NodeIPs); loopback when unknown. */
export interface NodeIPs {
  /** The family of the node's first address (or of `bindAddress`). */
  primaryFamily: Family;
  4: string;
  6: string;
}

/** Options of {@link nodeIPs}. */
export interface NodeIPsOptions {
  /** This node's Node object, when known. */
  node?: Node;
  /** `--bind-address`; a specified address overrides its family's node IP. */
  bindAddress?: string;
}

/**
 * The node's IPs like kube-proxy's `detectNodeIPs`: the first InternalIP (else ExternalIP) of the
 * Node object and the first address of the other family; a specified `--bind-address` replaces
 * the IP of its family and makes that family primary; a family without an address gets the
 * loopback address (127.0.0.1, ::1).
 */
export function nodeIPs(options: NodeIPsOptions = {}): NodeIPs {
  const out: NodeIPs = { primaryFamily: 4, 4: "127.0.0.1", 6: "::1" };
  const all: IP[] = [];
  for (const type of ["InternalIP", "ExternalIP"]) {
    for (const a of options.node?.status.addresses ?? []) {
      const ip = a.type === type ? parseIP(a.address) : undefined;
      if (ip) all.push(ip);
    }
  }
  const first = all[0];
  if (first) {
    out.primaryFamily = first.family;
    out[first.family] = formatIP(first);
    const other = all.find((ip) => ip.family !== first.family);
    if (other) out[other.family] = formatIP(other);
  }
  const bind = options.bindAddress ? parseIP(options.bindAddress) : undefined;
  if (bind && !bind.bytes.every((b) => b === 0)) {
    out.primaryFamily = bind.family;
    out[bind.family] = formatIP(bind);
  }
  return out;
}

/** Options of {@link nodePortAddresses}. */
export interface NodePortAddressOptions {
  /** Every address of every interface (`Deno.networkInterfaces()`). */
  interfaces: readonly InterfaceAddress[];
  /** `--nodeport-addresses`: CIDRs of either family, `["primary"]`, or `[]` for all. */
  nodePortAddresses: readonly string[];
  /** The node's IPs, needed for "primary". */
  nodeIPs?: Pick<NodeIPs, 4 | 6>;
  /** The dummy interface whose addresses are service addresses (default kube-ipvs0). */
  dummyDevice?: string;
}

/**
 * The CIDRs `--nodeport-addresses` stands for, per family, or "all" for a family that matches
 * every address. Like kube-proxy: "primary" becomes the node's non-loopback IPs as /32 and /128;
 * a family with no CIDR of its own (or with a zero CIDR) matches all.
 *
 * @throws KipvsError "invalid-config" when a value is neither a CIDR nor a lone "primary".
 */
export function nodePortCIDRs(
  values: readonly string[],
  ips?: Pick<NodeIPs, 4 | 6>,
): Record<Family, CIDR[] | "all"> {
  let texts = values.map((v) => v.trim());
  if (texts.length === 1 && texts[0] === NODEPORT_ADDRESSES_PRIMARY) {
    texts = [];
    for (const [family, bits] of [[4, 32], [6, 128]] as const) {
      const ip = ips ? parseIP(ips[family]) : undefined;
      if (ip && !isLoopback(ip)) texts.push(`${formatIP(ip)}/${bits}`);
    }
  }
  const cidrs: Record<Family, CIDR[]> = { 4: [], 6: [] };
  for (const text of texts) {
    const cidr = parseCIDR(text);
    if (!cidr) {
      throw new KipvsError(
        "invalid-config",
        `invalid --nodeport-addresses value "${text}": want CIDRs (10.0.0.0/8,fd00::/64) ` +
          `or "${NODEPORT_ADDRESSES_PRIMARY}" alone`,
        { details: { field: "nodePortAddresses", value: text } },
      );
    }
    cidrs[cidr.family].push(cidr);
  }
  const pick = (f: Family) =>
    cidrs[f].length === 0 || cidrs[f].some(isZeroCIDR) ? "all" as const : cidrs[f];
  return { 4: pick(4), 6: pick(6) };
}

/**
 * The addresses that serve node ports, per family. A family that matches all (the default) gets
 * every local address except loopback, IPv6 link-local and the dummy interface's; a family with
 * CIDRs gets the local addresses inside them, except loopback (IPv6 link-local only when a CIDR
 * asks for it, as in kube-proxy).
 *
 * One deliberate difference: kube-proxy's CIDR branch also matches addresses on kube-ipvs0 (so a
 * cluster or load balancer IP inside a node-port CIDR would grow node ports on the next sync);
 * kipvs never treats a service address as a node address, which keeps a sync's result
 * independent of what the previous sync bound.
 */
export function nodePortAddresses(options: NodePortAddressOptions): AddressesByFamily {
  const dummy = options.dummyDevice ?? DUMMY_DEVICE;
  const want = nodePortCIDRs(options.nodePortAddresses, options.nodeIPs);
  const out: Record<Family, Set<string>> = { 4: new Set(), 6: new Set() };
  for (const a of options.interfaces) {
    if (a.name === dummy) continue;
    const ip = parseIP(a.address);
    if (!ip || isLoopback(ip)) continue;
    const cidrs = want[ip.family];
    if (cidrs === "all") {
      if (ip.family === 6 && isLinkLocalUnicast(ip)) continue;
    } else if (!cidrs.some((c) => cidrContains(c, ip))) continue;
    out[ip.family].add(formatIP(ip));
  }
  return { 4: sortAddresses(out[4]), 6: sortAddresses(out[6]) };
}

/**
 * Every local address outside the dummy interface, except loopback and IPv6 link-local: the
 * node addresses kube-proxy never binds to kube-ipvs0 (an external or load balancer IP that is
 * already local stays where it is).
 */
export function localAddresses(
  interfaces: readonly InterfaceAddress[],
  dummyDevice = DUMMY_DEVICE,
): AddressesByFamily {
  return nodePortAddresses({ interfaces, nodePortAddresses: [], dummyDevice });
}

function sortAddresses(set: Set<string>): string[] {
  return [...set].sort(compareAddresses);
}

/** Orders addresses numerically (10.0.0.2 before 10.0.0.10), IPv4 before IPv6. */
export function compareAddresses(a: string, b: string): number {
  const x = parseIP(a), y = parseIP(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  for (let i = 0; i < x.bytes.length; i++) {
    const d = x.bytes[i]! - y.bytes[i]!;
    if (d !== 0) return d;
  }
  return 0;
}
