/**
 * ctnetlink requests written into a {@link MessageWriter}, and the conntrack entries of a dump
 * read in place: only what deleting stale UDP flows needs (the original tuple as the kernel
 * wrote it, the reply source, the zone and the id).
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import { formatIPAt } from "../../net/ip.ts";
import { AF_INET, AF_INET6, NLMSG_HDRLEN } from "../netlink/constants.ts";
import { Attrs, type MessageRef } from "../netlink/reader.ts";
import type { MessageWriter } from "../netlink/writer.ts";
import { NFGENMSG_LEN, NFNETLINK_V0 } from "../ipset/constants.ts";
import {
  CTA,
  CTA_IP,
  CTA_IP_MAX,
  CTA_MAX,
  CTA_PROTO,
  CTA_PROTO_MAX,
  CTA_TUPLE,
  CTA_TUPLE_MAX,
  NFNL_SUBSYS_CTNETLINK,
} from "./constants.ts";

/** Starts a ctnetlink message: netlink header and `struct nfgenmsg` for `family`. */
export function beginConntrack(
  w: MessageWriter,
  o: { msg: number; family: Family; flags: number; seq: number },
): void {
  w.begin((NFNL_SUBSYS_CTNETLINK << 8) | o.msg, o.flags, o.seq);
  const at = w.header(NFGENMSG_LEN);
  w.view.setUint8(at, o.family === 6 ? AF_INET6 : AF_INET);
  w.view.setUint8(at + 1, NFNETLINK_V0);
}

/** One entry of a dump, as far as stale UDP flows need it. */
export interface ConntrackEntry {
  /** IP protocol of the original direction. */
  proto: number;
  /** Original destination address and port: the service address the client sent to. */
  origDst: string;
  origDstPort: number;
  /** Reply source address: the endpoint the flow was translated to. */
  replySrc: string;
  /** The CTA_TUPLE_ORIG attribute as the kernel wrote it, header included (a copy). */
  tuple: Uint8Array;
  /** CTA_ZONE and CTA_ID as the kernel wrote them (copies), when present. */
  zone?: Uint8Array;
  id?: Uint8Array;
}

/** Reads dump answers, reusing its attribute indexes (one decoder per dump). */
export class EntryDecoder {
  #top = new Attrs(new DataView(new ArrayBuffer(0)), 0, 0, CTA_MAX);
  #tuple = new Attrs(new DataView(new ArrayBuffer(0)), 0, 0, CTA_TUPLE_MAX);
  #ip = new Attrs(new DataView(new ArrayBuffer(0)), 0, 0, CTA_IP_MAX);
  #proto = new Attrs(new DataView(new ArrayBuffer(0)), 0, 0, CTA_PROTO_MAX);
  #family: Family;

  constructor(family: Family) {
    this.#family = family;
  }

  /**
   * The entry of one answer message when its original protocol is `wanted` (else undefined:
   * nothing else is decoded).
   */
  read(view: DataView, m: MessageRef, wanted: number): ConntrackEntry | undefined {
    const start = m.offset + NLMSG_HDRLEN + NFGENMSG_LEN;
    const top = this.#top.reload(view, start, m.offset + m.length);
    const orig = top.nested(CTA.TUPLE_ORIG, CTA_TUPLE_MAX, this.#tuple);
    const proto = orig?.nested(CTA_TUPLE.PROTO, CTA_PROTO_MAX, this.#proto);
    if (!orig || !proto || view.getUint8(proto.offset(CTA_PROTO.NUM)) !== wanted) return undefined;
    const origDstPort = proto.u16be(CTA_PROTO.DST_PORT);
    const origDst = this.#address(orig, "dst");
    const tupleAt = top.offset(CTA.TUPLE_ORIG) - 4;
    const tuple = copy(view, tupleAt, top.length(CTA.TUPLE_ORIG) + 4);
    const reply = top.nested(CTA.TUPLE_REPLY, CTA_TUPLE_MAX, this.#tuple);
    if (!reply || origDst === undefined) return undefined;
    const replySrc = this.#address(reply, "src");
    if (replySrc === undefined) return undefined;
    const entry: ConntrackEntry = { proto: wanted, origDst, origDstPort, replySrc, tuple };
    if (top.has(CTA.ZONE)) {
      entry.zone = copy(view, top.offset(CTA.ZONE) - 4, top.length(CTA.ZONE) + 4);
    }
    if (top.has(CTA.ID)) entry.id = copy(view, top.offset(CTA.ID) - 4, top.length(CTA.ID) + 4);
    return entry;
  }

  #address(tuple: Attrs, which: "src" | "dst"): string | undefined {
    const ip = tuple.nested(CTA_TUPLE.IP, CTA_IP_MAX, this.#ip);
    if (!ip) return undefined;
    const v4 = this.#family === 4;
    const type = v4
      ? (which === "src" ? CTA_IP.V4_SRC : CTA_IP.V4_DST)
      : (which === "src" ? CTA_IP.V6_SRC : CTA_IP.V6_DST);
    const at = ip.offset(type);
    if (at < 0 || ip.length(type) !== (v4 ? 4 : 16)) return undefined;
    return formatIPAt(this.#family, new Uint8Array(ip.view.buffer, ip.view.byteOffset), at);
  }
}

function copy(view: DataView, at: number, length: number): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset + at, length).slice();
}
