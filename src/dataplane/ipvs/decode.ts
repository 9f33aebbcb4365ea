/**
 * IPVS replies, decoded straight from the receive buffer: one pass over each message's
 * attributes and as few allocations as the objects returned need (in the test kernel every
 * fresh page a read touches costs a page fault as dear as a system call).
 *
 * @module
 */

import { formatIPAt } from "../../net/ip.ts";
import type { Family } from "../../net/family.ts";
import {
  AF_INET6,
  GENL_HDRLEN,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLMSG_HDRLEN,
} from "../netlink/constants.ts";
import { Attrs, type MessageRef } from "../netlink/reader.ts";
import { decodeStats } from "./_stats.ts";
import { CMD_ATTR, DEST_ATTR, FWD, SVC_ATTR, SVC_F, TUN_TYPE } from "./constants.ts";
import type {
  DestinationStatus,
  ForwardMethod,
  IpvsProtocol,
  IpvsStats,
  ServiceEntry,
  ServiceKey,
  ServiceStatus,
  TunnelType,
} from "./types.ts";

const familyOf = (af: number): Family => (af === AF_INET6 ? 6 : 4);
const PROTO_NAME: Record<number, IpvsProtocol> = { 6: "TCP", 17: "UDP", 132: "SCTP" };
const FWD_NAME = Object.fromEntries(Object.entries(FWD).map(([k, v]) => [v, k])) as Record<
  number,
  ForwardMethod
>;
const TUN_NAME = Object.fromEntries(Object.entries(TUN_TYPE).map(([k, v]) => [v, k])) as Record<
  number,
  TunnelType
>;

// Scratch indexes for the decoders (synchronous, never re-entered): no allocation per entry.
const EMPTY = new DataView(new ArrayBuffer(0));
const TOP = new Attrs(EMPTY, 0, 0, CMD_ATTR.MAX);
const SVC = new Attrs(EMPTY, 0, 0, SVC_ATTR.MAX);

let lastView: DataView = EMPTY;
let lastBytes: Uint8Array = new Uint8Array(0);
/** The bytes behind a view (the receive buffer's, reused across calls). */
function bytesOf(view: DataView): Uint8Array {
  if (view !== lastView) {
    lastView = view;
    lastBytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  }
  return lastBytes;
}

/** The top-level attributes of a reply message (after the genl header). */
export function replyAttrs(view: DataView, m: MessageRef, maxType: number): Attrs {
  return new Attrs(view, m.offset + NLMSG_HDRLEN + GENL_HDRLEN, m.offset + m.length, maxType);
}

// Services and destinations number their STATS (10) and STATS64 (12) attributes alike.
function stats(a: Attrs): IpvsStats {
  const type = a.has(SVC_ATTR.STATS64) ? SVC_ATTR.STATS64 : SVC_ATTR.STATS;
  const at = a.offset(type);
  return at < 0 ? decodeStats(a.view, 0, 0) : decodeStats(a.view, at, at + a.length(type));
}

/** The offset of top-level attribute `type` of a genl message (its header), or -1. */
function topAttr(view: DataView, m: MessageRef, type: number): number {
  const end = m.offset + m.length;
  for (let off = m.offset + NLMSG_HDRLEN + GENL_HDRLEN; off + NLA_HDRLEN <= end;) {
    const len = view.getUint16(off, true);
    if (len < NLA_HDRLEN) break;
    if ((view.getUint16(off + 2, true) & NLA_TYPE_MASK) === type) return off;
    off += (len + 3) & ~3;
  }
  return -1;
}

const decoder = new TextDecoder();
// Scheduler and persistence engine names come from a short list: each is decoded once, then
// recognised by its bytes (a string per service would be 10,000 strings for one name).
const NAMES: { bytes: Uint8Array; text: string }[] = [];

/** The NUL-terminated name at `[at, at + len)`, or "" when `at` is -1. */
function nameAt(view: DataView, at: number, len: number): string {
  if (at < 0) return "";
  let n = 0;
  while (n < len && view.getUint8(at + n) !== 0) n++;
  for (let k = 0; k < NAMES.length; k++) {
    const e = NAMES[k] as { bytes: Uint8Array; text: string };
    if (e.bytes.length !== n) continue;
    let i = 0;
    while (i < n && e.bytes[i] === view.getUint8(at + i)) i++;
    if (i === n) return e.text;
  }
  const bytes = new Uint8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + n));
  const text = decoder.decode(bytes);
  if (NAMES.length < 64) NAMES.push({ bytes, text });
  return text;
}

/** Decodes one service of a GET_SERVICE reply; its counters unless `counters` is false. */
export function decodeService(view: DataView, m: MessageRef, counters = true): ServiceStatus {
  return decodeServiceAs(view, m, false, counters);
}

/** Decodes one service of a GET_SERVICE reply, with an empty list for its real servers. */
export function decodeServiceEntry(view: DataView, m: MessageRef, counters = true): ServiceEntry {
  return decodeServiceAs(view, m, true, counters) as ServiceEntry;
}

function decodeServiceAs(
  view: DataView,
  m: MessageRef,
  entry: boolean,
  counters: boolean,
): ServiceStatus | ServiceEntry {
  const s = TOP.reload(view, m.offset + NLMSG_HDRLEN + GENL_HDRLEN, m.offset + m.length)
    .nested(CMD_ATTR.SERVICE, SVC_ATTR.MAX, SVC);
  if (!s) throw new Error("IPVS service reply without a service attribute");
  const family = familyOf(s.u16(SVC_ATTR.AF));
  const raw = bytesOf(view);
  const key: ServiceKey = s.has(SVC_ATTR.FWMARK) ? { family, fwmark: s.u32(SVC_ATTR.FWMARK) } : {
    family,
    protocol: PROTO_NAME[s.u16(SVC_ATTR.PROTOCOL)] ?? "TCP",
    address: formatIPAt(family, raw, s.offset(SVC_ATTR.ADDR)),
    port: s.u16be(SVC_ATTR.PORT),
  };
  const flagsAt = s.offset(SVC_ATTR.FLAGS);
  const flags = flagsAt < 0 ? 0 : view.getUint32(flagsAt, true) & ~SVC_F.HASHED;
  const scheduler = nameAt(view, s.offset(SVC_ATTR.SCHED_NAME), s.length(SVC_ATTR.SCHED_NAME));
  const timeout = s.u32(SVC_ATTR.TIMEOUT);
  const netmask = family === 4
    ? prefixOfMask(s.offset(SVC_ATTR.NETMASK) < 0 ? 0xffff_ffff : s.u32be(SVC_ATTR.NETMASK))
    : s.u32(SVC_ATTR.NETMASK, 128);
  const persistenceEngine = nameAt(view, s.offset(SVC_ATTR.PE_NAME), s.length(SVC_ATTR.PE_NAME));
  // One literal per shape, not a property added later: objects keep one layout, no spill.
  if (!counters) {
    return entry
      ? { key, scheduler, flags, timeout, netmask, persistenceEngine, destinations: [] }
      : { key, scheduler, flags, timeout, netmask, persistenceEngine };
  }
  const st = stats(s);
  return entry
    ? { key, scheduler, flags, timeout, netmask, persistenceEngine, stats: st, destinations: [] }
    : { key, scheduler, flags, timeout, netmask, persistenceEngine, stats: st };
}

/** The attributes of the destination being decoded (one object reused: no allocation each). */
const D = {
  addrAt: -1,
  af: 0,
  port: 0,
  fwd: 0,
  weight: 0,
  upper: 0,
  lower: 0,
  active: 0,
  inactive: 0,
  persistent: 0,
  tunType: -1,
  tunPort: 0,
  tunFlags: 0,
  statsAt: -1,
  statsEnd: -1,
  wide: false,
};

/** Sets {@link D} back to "nothing read" (field by field: `Object.assign` is 4x slower here). */
function resetDestination(): void {
  D.addrAt = -1;
  D.af = 0;
  D.port = 0;
  D.fwd = 0;
  D.weight = 0;
  D.upper = 0;
  D.lower = 0;
  D.active = 0;
  D.inactive = 0;
  D.persistent = 0;
  D.tunType = -1;
  D.tunPort = 0;
  D.tunFlags = 0;
  D.statsAt = -1;
  D.statsEnd = -1;
  D.wide = false;
}

/** Reads the attributes of the DEST nest `[start, end)` into {@link D}, in one pass. */
function scanDestination(view: DataView, start: number, end: number): void {
  resetDestination();
  for (let off = start; off + NLA_HDRLEN <= end;) {
    const len = view.getUint16(off, true);
    if (len < NLA_HDRLEN) break;
    const p = off + NLA_HDRLEN;
    // The kernel keeps weight and thresholds as ints: read them signed. Ports are in network
    // byte order.
    switch (view.getUint16(off + 2, true) & NLA_TYPE_MASK) {
      case DEST_ATTR.ADDR:
        D.addrAt = p;
        break;
      case DEST_ATTR.ADDR_FAMILY:
        D.af = view.getUint16(p, true);
        break;
      case DEST_ATTR.PORT:
        D.port = view.getUint16(p, false);
        break;
      case DEST_ATTR.FWD_METHOD:
        D.fwd = view.getUint32(p, true);
        break;
      case DEST_ATTR.WEIGHT:
        D.weight = view.getInt32(p, true);
        break;
      case DEST_ATTR.U_THRESH:
        D.upper = view.getInt32(p, true);
        break;
      case DEST_ATTR.L_THRESH:
        D.lower = view.getInt32(p, true);
        break;
      case DEST_ATTR.ACTIVE_CONNS:
        D.active = view.getUint32(p, true);
        break;
      case DEST_ATTR.INACT_CONNS:
        D.inactive = view.getUint32(p, true);
        break;
      case DEST_ATTR.PERSIST_CONNS:
        D.persistent = view.getUint32(p, true);
        break;
      default:
        scanRareAttr(view, off, len);
    }
    off += (len + 3) & ~3;
  }
}

/** The attributes of a destination that are not in every reply: counters, tunnel. */
function scanRareAttr(view: DataView, off: number, len: number): void {
  const p = off + NLA_HDRLEN;
  switch (view.getUint16(off + 2, true) & NLA_TYPE_MASK) {
    case DEST_ATTR.STATS64:
      D.wide = true;
      D.statsAt = p;
      D.statsEnd = off + len;
      break;
    case DEST_ATTR.STATS:
      if (D.wide) break;
      D.statsAt = p;
      D.statsEnd = off + len;
      break;
    case DEST_ATTR.TUN_TYPE:
      D.tunType = view.getUint8(p);
      break;
    case DEST_ATTR.TUN_PORT:
      D.tunPort = view.getUint16(p, false);
      break;
    case DEST_ATTR.TUN_FLAGS:
      D.tunFlags = view.getUint16(p, true);
      break;
  }
}

/**
 * Decodes one destination of a GET_DEST reply; `serviceFamily` when it has no ADDR_FAMILY;
 * its counters unless `counters` is false.
 * The hottest decoder (a table has ten real servers per service or more): one pass over the
 * attributes, no index.
 */
export function decodeDestination(
  view: DataView,
  m: MessageRef,
  serviceFamily: Family,
  counters = true,
): DestinationStatus {
  const nest = topAttr(view, m, CMD_ATTR.DEST);
  if (nest < 0) throw new Error("IPVS destination reply without a destination attribute");
  scanDestination(view, nest + NLA_HDRLEN, nest + view.getUint16(nest, true));
  if (D.addrAt < 0) throw new Error("IPVS destination reply without an address");
  const family = D.af === 0 ? serviceFamily : familyOf(D.af);
  const forward = FWD_NAME[D.fwd & 7] ?? "masq";
  const address = formatIPAt(family, bytesOf(view), D.addrAt);
  // One literal per shape, not a property added later: objects keep one layout.
  const out: DestinationStatus = counters
    ? {
      address,
      port: D.port,
      family,
      forward,
      weight: D.weight,
      upperThreshold: D.upper,
      lowerThreshold: D.lower,
      activeConnections: D.active,
      inactiveConnections: D.inactive,
      persistentConnections: D.persistent,
      stats: decodeStats(view, D.statsAt < 0 ? 0 : D.statsAt, D.statsAt < 0 ? 0 : D.statsEnd),
    }
    : {
      address,
      port: D.port,
      family,
      forward,
      weight: D.weight,
      upperThreshold: D.upper,
      lowerThreshold: D.lower,
      activeConnections: D.active,
      inactiveConnections: D.inactive,
      persistentConnections: D.persistent,
    };
  if (forward === "tunnel" && D.tunType >= 0) {
    out.tunnel = { type: TUN_NAME[D.tunType] ?? "ipip", port: D.tunPort, flags: D.tunFlags };
  }
  return out;
}

/** The prefix length of a contiguous IPv4 mask (leading one bits). */
export function prefixOfMask(mask: number): number {
  let n = 0;
  for (let bit = 31; bit >= 0 && (mask >>> bit) & 1; bit--) n++;
  return n;
}
