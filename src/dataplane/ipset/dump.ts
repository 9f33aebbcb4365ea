/**
 * Reading every set through one netlink dump (IPSET_CMD_SAVE), into the same
 * {@link IpsetSnapshot} that parsing `ipset save` gives: typed options, and entries decoded
 * straight into typed members (dataplane/members.ts). The kernel answers with one or more messages per set, each naming it;
 * the first carries the set's header (type, family, a DATA nest of its create options), every
 * one may carry entries (an ADT nest of DATA nests).
 *
 * Only the set types kipvs creates, with their TCP, UDP and SCTP entries, are decoded; a dump
 * holding anything else (another type, another protocol, an extension such as timeouts) is
 * reported as {@link SaveDecoder.unsupported}, and the caller asks the `ipset` program, which
 * prints every form.
 *
 * @module
 */

import { formatIPAt } from "../../net/ip.ts";
import { type SetMember, setMember, type SetProtocol } from "../members.ts";
import { Attrs, type MessageRef } from "../netlink/reader.ts";
import type { MessageWriter } from "../netlink/writer.ts";
import { beginIpset, replyAttrs } from "./codec.ts";
import { CMD_ATTR, DATA_ATTR, IPADDR_ATTR, IPSET_CMD, NFPROTO } from "./constants.ts";
import type { IpsetSnapshot, KernelSet, SetOptions } from "./save.ts";
import { isSetType } from "./sets.ts";

const PROTO_NAME: Record<number, SetProtocol> = { 6: "tcp", 17: "udp", 132: "sctp" };

/** Writes the dump request of every set (flags must include NLM_F_DUMP). */
export function putSaveDump(w: MessageWriter, protocol: number, flags: number, seq: number): void {
  beginIpset(w, { protocol, cmd: IPSET_CMD.SAVE, flags, seq });
  w.end();
}

/** Turns the messages of an IPSET_CMD_SAVE dump into a snapshot. */
export class SaveDecoder {
  /** The sets read so far, in the kernel's order. */
  readonly sets: IpsetSnapshot = new Map();
  /** Why the dump cannot stand for `ipset save` (undefined while it can). */
  unsupported: string | undefined;
  #family = new Map<string, 4 | 6>();
  #data = new Attrs(new DataView(new ArrayBuffer(0)), 0, 0, DATA_ATTR.MAX);
  #ip = new Attrs(new DataView(new ArrayBuffer(0)), 0, 0, IPADDR_ATTR.IPV6);
  #bytes: Uint8Array = new Uint8Array(0);

  /** Takes one message of the dump. */
  take(view: DataView, m: MessageRef): void {
    if (this.unsupported) return;
    const a = replyAttrs(view, m);
    const name = a.string(CMD_ATTR.SETNAME);
    if (a.has(CMD_ATTR.TYPENAME)) this.#header(name, a);
    if (this.unsupported) return;
    const set = this.sets.get(name);
    if (!set) {
      this.unsupported = `entries of set "${name}" before its header`;
      return;
    }
    const adt = a.offset(CMD_ATTR.ADT);
    if (adt < 0) return;
    if (this.#bytes.buffer !== view.buffer || this.#bytes.byteOffset !== view.byteOffset) {
      this.#bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    }
    const end = adt + a.length(CMD_ATTR.ADT);
    for (let off = adt; off + 4 <= end;) {
      const len = view.getUint16(off, true);
      if (len < 4) break;
      const member = this.#member(set, view, off + 4, off + len);
      if (member === undefined) return;
      set.members.set(member.key, member);
      off += (len + 3) & ~3;
    }
  }

  #header(name: string, a: Attrs): void {
    const type = a.string(CMD_ATTR.TYPENAME);
    if (!isSetType(type)) {
      this.unsupported = `set "${name}" is of type ${type}`;
      return;
    }
    const view = a.view;
    const family = a.has(CMD_ATTR.FAMILY) ? view.getUint8(a.offset(CMD_ATTR.FAMILY)) : 0;
    const d = a.nested(CMD_ATTR.DATA, DATA_ATTR.MAX, this.#data);
    if (d?.has(DATA_ATTR.TIMEOUT) || (d?.u32be(DATA_ATTR.CADT_FLAGS) ?? 0) !== 0) {
      this.unsupported = `set "${name}" has extensions (timeout, counters, comment, ...)`;
      return;
    }
    const options: SetOptions = { other: [] };
    if (type === "bitmap:port") {
      options.range = [d?.u16be(DATA_ATTR.PORT) ?? 0, d?.u16be(DATA_ATTR.PORT_TO) ?? 0];
    } else {
      options.family = family === NFPROTO.IPV6 ? 6 : 4;
      this.#family.set(name, options.family);
      options.hashsize = d?.u32be(DATA_ATTR.HASHSIZE);
      options.maxelem = d?.u32be(DATA_ATTR.MAXELEM);
      if (d?.has(DATA_ATTR.BUCKETSIZE)) {
        options.other.push(`bucketsize ${view.getUint8(d.offset(DATA_ATTR.BUCKETSIZE))}`);
      }
      if (d?.has(DATA_ATTR.INITVAL)) {
        const initval = d.u32be(DATA_ATTR.INITVAL).toString(16).padStart(8, "0");
        options.other.push(`initval 0x${initval}`);
      }
    }
    this.sets.set(name, { name, type, options, members: new Map() });
  }

  /** One entry as a typed member, or undefined (and {@link unsupported} set). */
  #member(set: KernelSet, view: DataView, start: number, end: number): SetMember | undefined {
    const d = this.#data.reload(view, start, end);
    if (d.has(DATA_ATTR.TIMEOUT) || d.u32be(DATA_ATTR.CADT_FLAGS) !== 0) {
      this.unsupported = `an entry of set "${set.name}" has extensions or flags`;
      return undefined;
    }
    if (set.type === "bitmap:port") return setMember({ port: d.u16be(DATA_ATTR.PORT) });
    const family = this.#family.get(set.name) ?? 4;
    const ip = this.#address(family, d, DATA_ATTR.IP);
    if (set.type === "hash:ip") return setMember({ ip });
    const at = d.offset(DATA_ATTR.PROTO);
    const protocol = PROTO_NAME[at < 0 ? -1 : view.getUint8(at)];
    if (!protocol) {
      this.unsupported = `an entry of set "${set.name}" has a protocol other than tcp, udp, sctp`;
      return undefined;
    }
    const port = d.u16be(DATA_ATTR.PORT);
    if (set.type === "hash:ip,port") return setMember({ ip, protocol, port });
    const ip2 = this.#address(family, d, DATA_ATTR.IP2);
    if (set.type === "hash:ip,port,ip") return setMember({ ip, protocol, port, ip2 });
    const c = d.offset(DATA_ATTR.CIDR2);
    const cidr2 = c < 0 ? (family === 4 ? 32 : 128) : view.getUint8(c);
    return setMember({ ip, protocol, port, ip2, cidr2 });
  }

  #address(family: 4 | 6, d: Attrs, type: number): string {
    const ip = d.nested(type, IPADDR_ATTR.IPV6, this.#ip);
    const at = ip?.offset(family === 4 ? IPADDR_ATTR.IPV4 : IPADDR_ATTR.IPV6) ?? -1;
    if (at < 0) return "";
    return formatIPAt(family, this.#bytes, at);
  }
}
