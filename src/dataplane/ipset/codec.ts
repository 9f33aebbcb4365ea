/**
 * ipset requests written straight into a {@link MessageWriter}, and the few replies kipvs reads
 * (protocol, set type, set header). Addresses, ports and create sizes travel in network byte
 * order with NLA_F_NET_BYTEORDER set on their attributes; the kernel refuses them without it
 * (`ip_set_attr_netorder`), and refuses DATA and IP containers without NLA_F_NESTED.
 *
 * @module
 */

import { parseIPInto } from "../../net/ip.ts";
import { MessageWriter } from "../netlink/writer.ts";
import { Attrs, type MessageRef } from "../netlink/reader.ts";
import { NLMSG_HDRLEN } from "../netlink/constants.ts";
import type { Family } from "../../net/family.ts";
import {
  CMD_ATTR,
  DATA_ATTR,
  IPADDR_ATTR,
  IPPROTO,
  IPSET_CMD,
  NFGENMSG_LEN,
  NFNETLINK_V0,
  NFNL_SUBSYS_IPSET,
  NFPROTO,
  NLA_F_NET_BYTEORDER,
} from "./constants.ts";
import type { SetMember } from "../members.ts";
import type { CreateOptions } from "./ops.ts";
import type { SetType } from "./sets.ts";

/** A set as an add or del line needs it: its type and the family of its addresses. */
export interface SetShape {
  type: SetType;
  /** 4 or 6; bitmap:port sets hold no address (any value). */
  family: Family;
}

/** Options of {@link beginIpset}. */
export interface IpsetHeader {
  cmd: number;
  flags: number;
  seq: number;
  /** The protocol version written as the message's first attribute. */
  protocol: number;
}

/** The ipset family byte of an address family (NFPROTO_IPV4 / NFPROTO_IPV6). */
export function nfproto(family: Family | undefined): number {
  return family === undefined ? NFPROTO.UNSPEC : family === 6 ? NFPROTO.IPV6 : NFPROTO.IPV4;
}

/**
 * Starts an ipset request: netlink header (type NFNL_SUBSYS_IPSET << 8 | cmd), `struct
 * nfgenmsg` (family AF_INET as the ipset program writes it, version 0, res_id 0) and the
 * protocol attribute, which the kernel checks first.
 */
export function beginIpset(w: MessageWriter, h: IpsetHeader): void {
  w.begin((NFNL_SUBSYS_IPSET << 8) | h.cmd, h.flags, h.seq);
  const at = w.header(NFGENMSG_LEN);
  w.view.setUint8(at, NFPROTO.IPV4);
  w.view.setUint8(at + 1, NFNETLINK_V0);
  w.u8(CMD_ATTR.PROTOCOL, h.protocol);
}

const addr16 = new Uint8Array(16);

/** Writes the nest `type` holding one address; false when `text` is not an address. */
function putAddress(w: MessageWriter, type: number, text: string): boolean {
  const family = parseIPInto(text, addr16);
  if (!family) return false;
  const nest = w.nestStart(type);
  if (family === 4) w.bytesAttr(IPADDR_ATTR.IPV4 | NLA_F_NET_BYTEORDER, addr16.subarray(0, 4));
  else w.bytesAttr(IPADDR_ATTR.IPV6 | NLA_F_NET_BYTEORDER, addr16);
  w.nestEnd(nest);
  return true;
}

/**
 * Writes the DATA nest of one member, field by field: IP, PORT (network order) and PROTO, IP2,
 * CIDR2, each when the member has it. Returns false (with a partial nest written) when an
 * address does not parse: check members with `memberMisfit` (dataplane/members.ts) first.
 */
export function putMember(w: MessageWriter, m: SetMember): boolean {
  const data = w.nestStart(CMD_ATTR.DATA);
  let ok = m.ip === undefined || putAddress(w, DATA_ATTR.IP, m.ip);
  if (m.port !== undefined) w.u16be(DATA_ATTR.PORT | NLA_F_NET_BYTEORDER, m.port);
  if (m.protocol !== undefined) w.u8(DATA_ATTR.PROTO, IPPROTO[m.protocol]!);
  if (ok && m.ip2 !== undefined) ok = putAddress(w, DATA_ATTR.IP2, m.ip2);
  if (m.cidr2 !== undefined) w.u8(DATA_ATTR.CIDR2, m.cidr2);
  w.nestEnd(data);
  return ok;
}

/** Writes the type, revision, family and DATA nest of a create request. */
export function putCreate(w: MessageWriter, o: CreateOptions, revision: number): void {
  w.string(CMD_ATTR.TYPENAME, o.type);
  w.u8(CMD_ATTR.REVISION, revision);
  w.u8(CMD_ATTR.FAMILY, nfproto(o.family));
  const data = w.nestStart(CMD_ATTR.DATA);
  if (o.range) {
    w.u16be(DATA_ATTR.PORT | NLA_F_NET_BYTEORDER, o.range[0]);
    w.u16be(DATA_ATTR.PORT_TO | NLA_F_NET_BYTEORDER, o.range[1]);
  }
  if (o.hashsize !== undefined) w.u32be(DATA_ATTR.HASHSIZE | NLA_F_NET_BYTEORDER, o.hashsize);
  if (o.maxelem !== undefined) w.u32be(DATA_ATTR.MAXELEM | NLA_F_NET_BYTEORDER, o.maxelem);
  w.nestEnd(data);
}

/** The command-level attributes of a reply (after `struct nfgenmsg`). */
export function replyAttrs(view: DataView, m: MessageRef): Attrs {
  const start = m.offset + NLMSG_HDRLEN + NFGENMSG_LEN;
  return new Attrs(view, start, m.offset + m.length, CMD_ATTR.MAX);
}

/** The answer to IPSET_CMD_PROTOCOL: the kernel's protocol and the oldest it still takes. */
export function decodeProtocol(view: DataView, m: MessageRef): { max: number; min: number } {
  const a = replyAttrs(view, m);
  const max = a.has(CMD_ATTR.PROTOCOL) ? view.getUint8(a.offset(CMD_ATTR.PROTOCOL)) : 0;
  const min = a.has(CMD_ATTR.PROTOCOL_MIN) ? view.getUint8(a.offset(CMD_ATTR.PROTOCOL_MIN)) : max;
  return { max, min };
}

/** The answer to IPSET_CMD_TYPE: the revisions of a set type this kernel has. */
export function decodeTypeRevisions(view: DataView, m: MessageRef): { max: number; min: number } {
  const a = replyAttrs(view, m);
  const max = a.has(CMD_ATTR.REVISION) ? view.getUint8(a.offset(CMD_ATTR.REVISION)) : 0;
  // REVISION_MIN shares the number of PROTOCOL_MIN.
  const min = a.has(CMD_ATTR.PROTOCOL_MIN) ? view.getUint8(a.offset(CMD_ATTR.PROTOCOL_MIN)) : 0;
  return { max, min };
}

/** The answer to IPSET_CMD_HEADER: the set's type name and family. */
export function decodeHeader(view: DataView, m: MessageRef): { type: string; family: number } {
  const a = replyAttrs(view, m);
  const family = a.has(CMD_ATTR.FAMILY) ? view.getUint8(a.offset(CMD_ATTR.FAMILY)) : 0;
  return { type: a.string(CMD_ATTR.TYPENAME), family };
}

/** Writes IPSET_CMD_TYPE for `type` and `family` (the kernel loads the type's module). */
export function putTypeQuery(w: MessageWriter, h: IpsetHeader, o: CreateOptions): void {
  beginIpset(w, { ...h, cmd: IPSET_CMD.TYPE });
  w.string(CMD_ATTR.TYPENAME, o.type);
  w.u8(CMD_ATTR.FAMILY, nfproto(o.family));
  w.end();
}
