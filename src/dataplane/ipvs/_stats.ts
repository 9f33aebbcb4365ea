/**
 * The counters of a STATS or STATS64 nest.
 *
 * @module
 */

import { NLA_HDRLEN, NLA_TYPE_MASK } from "../netlink/constants.ts";
import { STATS_ATTR } from "./constants.ts";
import type { IpvsStats } from "./types.ts";

/**
 * Reads a STATS or STATS64 nest at `[start, end)`. Each counter is read at the width its
 * attribute has (STATS64 has only u64s; STATS has u32s and u64 byte counts). Locals, not an
 * array: in the guest kernel's slow JavaScript every allocation of a hot loop shows.
 */
export function decodeStats(view: DataView, start: number, end: number): IpvsStats {
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
