/**
 * IPVS messages: requests written straight into a {@link MessageWriter}, replies decoded
 * straight from the receive buffer.
 *
 * @module
 */

import { formatIp, type IpFamily, parseIpInto } from "../netlink/addr.ts";
import {
  AF_INET,
  AF_INET6,
  GENL_HDRLEN,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLMSG_HDRLEN,
} from "../netlink/constants.ts";
import { Attrs, type MessageRef } from "../netlink/reader.ts";
import type { MessageWriter } from "../netlink/writer.ts";
import {
  CMD_ATTR,
  DEST_ATTR,
  FWD,
  IPPROTO,
  IPVS_GENL_VERSION,
  STATS_ATTR,
  SVC_ATTR,
  SVC_F,
  TUN_TYPE,
} from "./constants.ts";
import type {
  Destination,
  DestinationKey,
  DestinationStatus,
  ForwardMethod,
  IpvsProtocol,
  IpvsStats,
  ServiceEntry,
  ServiceKey,
  ServiceStatus,
  TunnelType,
  VirtualServer,
} from "./types.ts";
import { isFwmarkKey } from "./types.ts";

const afOf = (f: IpFamily) => (f === 6 ? AF_INET6 : AF_INET);
const familyOf = (af: number): IpFamily => (af === AF_INET6 ? 6 : 4);
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

/** Starts an IPVS request: netlink header and generic netlink header. */
export function beginIpvs(
  w: MessageWriter,
  o: { family: number; cmd: number; flags: number; seq: number },
): void {
  w.begin(o.family, o.flags, o.seq);
  w.genl(o.cmd, IPVS_GENL_VERSION);
}

// The last service address encoded: a batch names each service once per real server.
let lastAddr = "";
const lastAddr16 = new Uint8Array(16);
function address(s: string): Uint8Array {
  if (s === lastAddr) return lastAddr16;
  lastAddr = "";
  if (!parseIpInto(s, lastAddr16)) throw new Error(`unparsable address "${s}" passed checkOp()`);
  lastAddr = s;
  return lastAddr16;
}
const destAddr16 = new Uint8Array(16);

/** Writes the service nest: its identity, and with `service` its settings too. */
export function putService(w: MessageWriter, key: ServiceKey, service?: VirtualServer): void {
  const nest = w.nestStart(CMD_ATTR.SERVICE);
  w.u16(SVC_ATTR.AF, afOf(key.family));
  if (isFwmarkKey(key)) {
    w.u32(SVC_ATTR.FWMARK, key.fwmark);
  } else {
    w.u16(SVC_ATTR.PROTOCOL, IPPROTO[key.protocol]);
    w.bytesAttr(SVC_ATTR.ADDR, address(key.address));
    w.u16be(SVC_ATTR.PORT, key.port); // network byte order
  }
  if (service) {
    w.string(SVC_ATTR.SCHED_NAME, service.scheduler);
    if (service.persistenceEngine) w.string(SVC_ATTR.PE_NAME, service.persistenceEngine);
    // struct ip_vs_flags { flags, mask }: a full mask sets every flag to what is given.
    const body = w.attr(SVC_ATTR.FLAGS, 8);
    w.view.setUint32(body, (service.flags & ~SVC_F.HASHED) >>> 0, true);
    w.view.setUint32(body + 4, 0xffff_ffff, true);
    w.u32(SVC_ATTR.TIMEOUT, service.timeout);
    if (key.family === 4) {
      // The IPv4 mask travels as its address bytes (network order).
      const mask = service.netmask === 0 ? 0 : (0xffff_ffff << (32 - service.netmask)) >>> 0;
      w.u32be(SVC_ATTR.NETMASK, mask);
    } else {
      w.u32(SVC_ATTR.NETMASK, service.netmask);
    }
  }
  w.nestEnd(nest);
}

/** Writes the destination nest: its identity, and with `full` its settings too. */
export function putDestination(
  w: MessageWriter,
  d: DestinationKey & Partial<Destination>,
  full: boolean,
): void {
  const nest = w.nestStart(CMD_ATTR.DEST);
  const family = parseIpInto(d.address, destAddr16);
  if (!family) throw new Error(`unparsable address "${d.address}" passed checkOp()`);
  w.bytesAttr(DEST_ATTR.ADDR, destAddr16);
  w.u16be(DEST_ATTR.PORT, d.port); // network byte order
  w.u16(DEST_ATTR.ADDR_FAMILY, afOf(family));
  if (full) {
    w.u32(DEST_ATTR.FWD_METHOD, FWD[d.forward ?? "masq"]);
    w.u32(DEST_ATTR.WEIGHT, d.weight ?? 0);
    w.u32(DEST_ATTR.U_THRESH, d.upperThreshold ?? 0);
    w.u32(DEST_ATTR.L_THRESH, d.lowerThreshold ?? 0);
    if (d.tunnel) {
      w.u8(DEST_ATTR.TUN_TYPE, TUN_TYPE[d.tunnel.type]);
      w.u16be(DEST_ATTR.TUN_PORT, d.tunnel.port);
      w.u16(DEST_ATTR.TUN_FLAGS, d.tunnel.flags);
    }
  }
  w.nestEnd(nest);
}

/** The top-level attributes of a reply message (after the genl header). */
export function replyAttrs(view: DataView, m: MessageRef, maxType: number): Attrs {
  return new Attrs(view, m.offset + NLMSG_HDRLEN + GENL_HDRLEN, m.offset + m.length, maxType);
}

/**
 * Reads a STATS or STATS64 nest at `[start, end)`. Each counter is read at the width its
 * attribute has (STATS64 has only u64s; STATS has u32s and u64 byte counts). Locals, not an
 * array: in the guest kernel's slow JavaScript every allocation of a hot loop shows.
 */
function decodeStats(view: DataView, start: number, end: number): IpvsStats {
  let conns = 0, pktsIn = 0, pktsOut = 0, bytesIn = 0, bytesOut = 0;
  let cps = 0, ppsIn = 0, ppsOut = 0, bpsIn = 0, bpsOut = 0;
  for (let off = start; off + NLA_HDRLEN <= end;) {
    const len = view.getUint16(off, true);
    if (len < NLA_HDRLEN) break;
    // A u64 with a zero high word stays a small integer: `hi * 2^32 + lo` would make every
    // counter a boxed double (16 bytes more each, 160 per entry) even when it is 0.
    const hi = len >= NLA_HDRLEN + 8 ? view.getUint32(off + 8, true) : 0;
    const lo = view.getUint32(off + 4, true);
    const v = hi === 0 ? lo : hi * 0x1_0000_0000 + lo;
    switch (view.getUint16(off + 2, true) & NLA_TYPE_MASK) {
      case STATS_ATTR.CONNS:
        conns = v;
        break;
      case STATS_ATTR.INPKTS:
        pktsIn = v;
        break;
      case STATS_ATTR.OUTPKTS:
        pktsOut = v;
        break;
      case STATS_ATTR.INBYTES:
        bytesIn = v;
        break;
      case STATS_ATTR.OUTBYTES:
        bytesOut = v;
        break;
      case STATS_ATTR.CPS:
        cps = v;
        break;
      case STATS_ATTR.INPPS:
        ppsIn = v;
        break;
      case STATS_ATTR.OUTPPS:
        ppsOut = v;
        break;
      case STATS_ATTR.INBPS:
        bpsIn = v;
        break;
      case STATS_ATTR.OUTBPS:
        bpsOut = v;
        break;
    }
    off += (len + 3) & ~3;
  }
  return {
    connections: conns,
    packetsIn: pktsIn,
    packetsOut: pktsOut,
    bytesIn,
    bytesOut,
    cps,
    ppsIn,
    ppsOut,
    bpsIn,
    bpsOut,
  };
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
    address: formatIp(family, raw, s.offset(SVC_ATTR.ADDR)),
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

/**
 * Decodes one destination of a GET_DEST reply; `serviceFamily` when it has no ADDR_FAMILY;
 * its counters unless `counters` is false.
 * The hottest decoder (a table has ten real servers per service or more): one pass over the
 * attributes, no index.
 */
export function decodeDestination(
  view: DataView,
  m: MessageRef,
  serviceFamily: IpFamily,
  counters = true,
): DestinationStatus {
  const nest = topAttr(view, m, CMD_ATTR.DEST);
  if (nest < 0) throw new Error("IPVS destination reply without a destination attribute");
  const start = nest + NLA_HDRLEN;
  const end = nest + view.getUint16(nest, true);
  let addrAt = -1;
  let af = 0;
  let port = 0;
  let fwd = 0;
  let weight = 0;
  let upper = 0;
  let lower = 0;
  let active = 0;
  let inactive = 0;
  let persistent = 0;
  let tunType = -1;
  let tunPort = 0;
  let tunFlags = 0;
  let statsAt = -1;
  let statsEnd = -1;
  let wide = false;
  for (let off = start; off + NLA_HDRLEN <= end;) {
    const len = view.getUint16(off, true);
    if (len < NLA_HDRLEN) break;
    const p = off + NLA_HDRLEN;
    switch (view.getUint16(off + 2, true) & NLA_TYPE_MASK) {
      case DEST_ATTR.ADDR:
        addrAt = p;
        break;
      case DEST_ATTR.ADDR_FAMILY:
        af = view.getUint16(p, true);
        break;
      case DEST_ATTR.PORT:
        port = view.getUint16(p, false); // network byte order
        break;
      case DEST_ATTR.FWD_METHOD:
        fwd = view.getUint32(p, true);
        break;
      // The kernel keeps weight and thresholds as ints: read them signed.
      case DEST_ATTR.WEIGHT:
        weight = view.getInt32(p, true);
        break;
      case DEST_ATTR.U_THRESH:
        upper = view.getInt32(p, true);
        break;
      case DEST_ATTR.L_THRESH:
        lower = view.getInt32(p, true);
        break;
      case DEST_ATTR.ACTIVE_CONNS:
        active = view.getUint32(p, true);
        break;
      case DEST_ATTR.INACT_CONNS:
        inactive = view.getUint32(p, true);
        break;
      case DEST_ATTR.PERSIST_CONNS:
        persistent = view.getUint32(p, true);
        break;
      case DEST_ATTR.STATS64:
        statsAt = p;
        statsEnd = off + len;
        wide = true;
        break;
      case DEST_ATTR.STATS:
        if (!wide) {
          statsAt = p;
          statsEnd = off + len;
        }
        break;
      case DEST_ATTR.TUN_TYPE:
        tunType = view.getUint8(p);
        break;
      case DEST_ATTR.TUN_PORT:
        tunPort = view.getUint16(p, false);
        break;
      case DEST_ATTR.TUN_FLAGS:
        tunFlags = view.getUint16(p, true);
        break;
    }
    off += (len + 3) & ~3;
  }
  if (addrAt < 0) throw new Error("IPVS destination reply without an address");
  const family = af === 0 ? serviceFamily : familyOf(af);
  const forward = FWD_NAME[fwd & 7] ?? "masq";
  const address = formatIp(family, bytesOf(view), addrAt);
  const out: DestinationStatus = counters
    ? {
      address,
      port,
      family,
      forward,
      weight,
      upperThreshold: upper,
      lowerThreshold: lower,
      activeConnections: active,
      inactiveConnections: inactive,
      persistentConnections: persistent,
      stats: decodeStats(view, statsAt < 0 ? 0 : statsAt, statsAt < 0 ? 0 : statsEnd),
    }
    : {
      address,
      port,
      family,
      forward,
      weight,
      upperThreshold: upper,
      lowerThreshold: lower,
      activeConnections: active,
      inactiveConnections: inactive,
      persistentConnections: persistent,
    };
  if (forward === "tunnel" && tunType >= 0) {
    out.tunnel = { type: TUN_NAME[tunType] ?? "ipip", port: tunPort, flags: tunFlags };
  }
  return out;
}

/** The prefix length of a contiguous IPv4 mask (leading one bits). */
export function prefixOfMask(mask: number): number {
  let n = 0;
  for (let bit = 31; bit >= 0 && (mask >>> bit) & 1; bit--) n++;
  return n;
}
