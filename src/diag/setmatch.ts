/**
 * Whether a packet is in an ipset the way `-m set --match-set NAME dir,dir[,dir]` asks the
 * kernel: each direction flag picks the packet's source or destination address or port for one
 * dimension of the set's type, and the element built from them is looked up among the set's
 * members by key (ipset's notation, dataplane/members.ts). The element is shown in the same
 * text, so a trace reads "KUBE-CLUSTER-IP has 10.96.0.10,tcp:80".
 *
 * @module
 */

import type { KernelSet } from "../dataplane/ipset/save.ts";
import { cidrContains, parseCIDR, parseIP } from "../net/ip.ts";

/** The packet fields a set lookup reads. */
export interface SetPacket {
  protocol: "tcp" | "udp" | "sctp";
  src: string;
  dst: string;
  dport: number;
  /** Unknown for a packet yet to be sent: any lookup that needs it cannot tell. */
  sport?: number;
}

/** The outcome of one lookup. */
export interface SetLookup {
  set: string;
  /** The element looked up, in ipset's text ("10.96.0.10,tcp:80"); "?" when it cannot be built. */
  element: string;
  /** true/false, or undefined when the lookup cannot be decided (unknown type, unknown field). */
  found?: boolean;
  /** For a set with a network dimension: the entry whose network holds the address. */
  entry?: string;
  /** Why it could not be decided. */
  why?: string;
}

type Dir = "src" | "dst";

/** Looks `packet` up in `set` with the rule's direction flags ("dst,dst,src"). */
export function lookupSet(
  set: KernelSet | undefined,
  name: string,
  flags: string,
  packet: SetPacket,
): SetLookup {
  if (!set) return { set: name, element: "?", found: false, why: `set ${name} does not exist` };
  const dirs = flags.split(",") as Dir[];
  if (dirs.some((d) => d !== "src" && d !== "dst")) {
    return { set: name, element: "?", why: `unknown direction flags "${flags}"` };
  }
  const ip = (d: Dir | undefined) => (d === "src" ? packet.src : packet.dst);
  const port = (d: Dir | undefined) => (d === "src" ? packet.sport : packet.dport);
  const pp = (d: Dir | undefined) => {
    const p = port(d);
    return p === undefined ? undefined : `${packet.protocol}:${p}`;
  };
  const unknown = (element: string) => ({
    set: name,
    element,
    why: "the source port is not known before the packet is sent",
  });
  const dims = set.type.replace(/^(hash|bitmap|list):/, "").split(",");
  const kind = set.type.split(":")[0];
  if (kind === "list") return { set: name, element: "?", why: `list:set ${name} is not traced` };

  // Build the element dimension by dimension; "net" dimensions are matched by containment.
  const parts: string[] = [];
  let netDim: { index: number; address: string } | undefined;
  for (let i = 0; i < dims.length; i++) {
    const dim = dims[i];
    const dir = dirs[Math.min(i, dirs.length - 1)];
    if (dim === "ip") parts.push(ip(dir));
    else if (dim === "port") {
      const v = kind === "bitmap" ? port(dir) : pp(dir);
      if (v === undefined) return unknown("?");
      parts.push(String(v));
    } else if (dim === "net") {
      netDim = { index: i, address: ip(dir) };
      parts.push(ip(dir));
    } else {
      return { set: name, element: "?", why: `set type ${set.type} is not traced` };
    }
  }
  const element = parts.join(",");
  if (!netDim) return { set: name, element, found: set.members.has(element) };
  // A net dimension: any entry whose other dimensions are equal and whose network holds the ip.
  const addr = parseIP(netDim.address);
  for (const entry of set.members.keys()) {
    const ep = entry.split(",");
    if (ep.length !== parts.length) continue;
    if (!ep.every((v, i) => i === netDim!.index || v === parts[i])) continue;
    const netText = ep[netDim.index]!;
    const net = parseCIDR(
      netText.includes("/") ? netText : `${netText}/${netText.includes(":") ? 128 : 32}`,
    );
    if (addr && net && cidrContains(net, addr)) return { set: name, element, found: true, entry };
  }
  return { set: name, element, found: false };
}
