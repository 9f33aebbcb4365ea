/**
 * IPVS messages: requests written straight into a {@link MessageWriter}, replies decoded
 * straight from the receive buffer.
 *
 * @module
 */

import { formatIp, type IpFamily, parseIpInto } from "../netlink/addr.ts";
import { AF_INET, AF_INET6, GENL_HDRLEN, NLMSG_HDRLEN } from "../netlink/constants.ts";
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
const DEST = new Attrs(EMPTY, 0, 0, DEST_ATTR.MAX);
const STATS = new Attrs(EMPTY, 0, 0, STATS_ATTR.MAX);

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

// Services and destinations number their STATS (10) and STATS64 (12) attributes alike.
function stats(a: Attrs): IpvsStats {
  const s = a.nested(SVC_ATTR.STATS64, STATS_ATTR.MAX, STATS);
  const wide = s !== undefined;
  const st = s ?? a.nested(SVC_ATTR.STATS, STATS_ATTR.MAX, STATS);
  // In STATS64 every counter is a u64; in STATS only the byte counters are.
  const n = (t: number) => (st === undefined ? 0 : wide ? st.u64(t) : st.u32(t));
  return {
    connections: n(STATS_ATTR.CONNS),
    packetsIn: n(STATS_ATTR.INPKTS),
    packetsOut: n(STATS_ATTR.OUTPKTS),
    bytesIn: st?.u64(STATS_ATTR.INBYTES) ?? 0,
    bytesOut: st?.u64(STATS_ATTR.OUTBYTES) ?? 0,
    cps: n(STATS_ATTR.CPS),
    ppsIn: n(STATS_ATTR.INPPS),
    ppsOut: n(STATS_ATTR.OUTPPS),
    bpsIn: n(STATS_ATTR.INBPS),
    bpsOut: n(STATS_ATTR.OUTBPS),
  };
}

/** Decodes one service of a GET_SERVICE reply. */
export function decodeService(view: DataView, m: MessageRef): ServiceStatus {
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
  return {
    key,
    scheduler: s.string(SVC_ATTR.SCHED_NAME),
    flags,
    timeout: s.u32(SVC_ATTR.TIMEOUT),
    netmask: family === 4
      ? prefixOfMask(s.offset(SVC_ATTR.NETMASK) < 0 ? 0xffff_ffff : s.u32be(SVC_ATTR.NETMASK))
      : s.u32(SVC_ATTR.NETMASK, 128),
    persistenceEngine: s.string(SVC_ATTR.PE_NAME),
    stats: stats(s),
  };
}

/** Decodes one destination of a GET_DEST reply; `serviceFamily` when it has no ADDR_FAMILY. */
export function decodeDestination(
  view: DataView,
  m: MessageRef,
  serviceFamily: IpFamily,
): DestinationStatus {
  const d = TOP.reload(view, m.offset + NLMSG_HDRLEN + GENL_HDRLEN, m.offset + m.length)
    .nested(CMD_ATTR.DEST, DEST_ATTR.MAX, DEST);
  if (!d) throw new Error("IPVS destination reply without a destination attribute");
  const family = d.has(DEST_ATTR.ADDR_FAMILY)
    ? familyOf(d.u16(DEST_ATTR.ADDR_FAMILY))
    : serviceFamily;
  const raw = bytesOf(view);
  const forward = FWD_NAME[d.u32(DEST_ATTR.FWD_METHOD) & 7] ?? "masq";
  const out: DestinationStatus = {
    address: formatIp(family, raw, d.offset(DEST_ATTR.ADDR)),
    port: d.u16be(DEST_ATTR.PORT),
    family,
    forward,
    // The kernel keeps these as ints: read them signed.
    weight: d.u32(DEST_ATTR.WEIGHT) | 0,
    upperThreshold: d.u32(DEST_ATTR.U_THRESH) | 0,
    lowerThreshold: d.u32(DEST_ATTR.L_THRESH) | 0,
    activeConnections: d.u32(DEST_ATTR.ACTIVE_CONNS),
    inactiveConnections: d.u32(DEST_ATTR.INACT_CONNS),
    persistentConnections: d.u32(DEST_ATTR.PERSIST_CONNS),
    stats: stats(d),
  };
  if (forward === "tunnel" && d.has(DEST_ATTR.TUN_TYPE)) {
    out.tunnel = {
      type: TUN_NAME[view.getUint8(d.offset(DEST_ATTR.TUN_TYPE))] ?? "ipip",
      port: d.u16be(DEST_ATTR.TUN_PORT),
      flags: d.u16(DEST_ATTR.TUN_FLAGS),
    };
  }
  return out;
}

/** The prefix length of a contiguous IPv4 mask (leading one bits). */
export function prefixOfMask(mask: number): number {
  let n = 0;
  for (let bit = 31; bit >= 0 && (mask >>> bit) & 1; bit--) n++;
  return n;
}
