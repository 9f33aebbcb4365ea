/**
 * IPVS requests, written straight into a {@link MessageWriter}. Replies are read by
 * `decode.ts`.
 *
 * @module
 */

import { parseIPInto } from "../../net/ip.ts";
import type { Family } from "../../net/family.ts";
import { AF_INET, AF_INET6 } from "../netlink/constants.ts";
import type { MessageWriter } from "../netlink/writer.ts";
import {
  CMD_ATTR,
  DEST_ATTR,
  FWD,
  IPPROTO,
  IPVS_GENL_VERSION,
  SVC_ATTR,
  SVC_F,
  TUN_TYPE,
} from "./constants.ts";
import type { Destination, DestinationKey, ServiceKey, VirtualServer } from "./types.ts";
import { isFwmarkKey } from "./types.ts";

const afOf = (f: Family) => (f === 6 ? AF_INET6 : AF_INET);

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
  if (!parseIPInto(s, lastAddr16)) throw new Error(`unparsable address "${s}" passed checkOp()`);
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
  const family = parseIPInto(d.address, destAddr16);
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
