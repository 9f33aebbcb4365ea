/**
 * nf_tables over netlink (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_NFTABLES) for what kipvs
 * writes often: set elements, added and deleted in batches that the kernel applies as one
 * transaction each (BATCH_BEGIN, NEWSETELEM/DELSETELEM messages of up to
 * {@link ELEMENTS_PER_MESSAGE} elements, BATCH_END), and whole tables looked up and deleted. No
 * program runs: an endpoint change that only changes elements costs one datagram and one answer.
 * Rules are written by the `nft` program (nftables.ts); encoding nf_tables expressions by hand is
 * what libnftnl exists for, and a full sync's rules change rarely.
 *
 * Element keys are the bytes nf_tables compares: addresses and ports in network order, and in a
 * concatenation every field padded to 4 bytes (NFT_REG32 registers), as nft lays them out. An
 * interval set of concatenations (pipapo) takes each element as a range: KEY holds the first
 * address of the network, KEY_END its last.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { Family } from "../../net/family.ts";
import { formatIPAt, parseIPInto } from "../../net/ip.ts";
import type { SetMember } from "../members.ts";
import type { SetType } from "../ipset/sets.ts";
import { NetlinkClient, type NetlinkTransport } from "../netlink/client.ts";
import { ERRNO, errnoName, netlinkErrno } from "../netlink/errno.ts";
import type { MessageWriter } from "../netlink/writer.ts";
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST } from "../netlink/constants.ts";
import { NETLINK_NETFILTER } from "../ipset/constants.ts";
import { NFT_TABLE } from "./layout.ts";

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 16;
const NFNL_MSG_BATCH_END = 17;
const NFT_MSG = {
  GETTABLE: 1,
  DELTABLE: 2,
  NEWSETELEM: 12,
  GETSETELEM: 13,
  DELSETELEM: 14,
} as const;
const NFTA_TABLE_NAME = 1;
const NFTA_SET_ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3 } as const;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM = { KEY: 1, KEY_END: 10 } as const;
const NFTA_DATA_VALUE = 1;
const NFPROTO = { UNSPEC: 0, IPV4: 2, IPV6: 10 } as const;
const PROTO_NUMBER = { tcp: 6, udp: 17, sctp: 132 } as const;

/** Elements per NEWSETELEM/DELSETELEM message, and messages per transaction. */
export const ELEMENTS_PER_MESSAGE = 256;
const MESSAGES_PER_BATCH = 16;

/** One element to add to or delete from one of kipvs's sets. */
export interface ElementOp {
  op: "add" | "delete";
  family: Family;
  /** The nft set ("cluster-ip"). */
  set: string;
  /** The set's kind (its ipset type in kube-proxy's IPVS mode). */
  type: SetType;
  member: SetMember;
}

const scratch = new Uint8Array(16);

/** Writes the key (and for an interval, KEY_END) of `m` in a set of `type`. */
function putKey(w: MessageWriter, type: SetType, family: Family, m: SetMember): void {
  const addrLen = family === 4 ? 4 : 16;
  const addr = (ip: string | undefined, out: Uint8Array, at: number) => {
    if (ip === undefined || parseIPInto(ip, scratch) !== family) {
      throw new KipvsError("internal", `element ${m.key}: not an IPv${family} address`);
    }
    out.set(scratch.subarray(0, addrLen), at);
  };
  const key = (last: boolean): Uint8Array => {
    if (type === "bitmap:port") return new Uint8Array([m.port! >> 8, m.port! & 0xff]);
    if (type === "hash:ip") {
      const b = new Uint8Array(addrLen);
      addr(m.ip, b, 0);
      return b;
    }
    const two = type !== "hash:ip,port";
    const b = new Uint8Array(addrLen + 8 + (two ? addrLen : 0));
    addr(m.ip, b, 0);
    b[addrLen] = PROTO_NUMBER[m.protocol!];
    b[addrLen + 4] = m.port! >> 8;
    b[addrLen + 5] = m.port! & 0xff;
    if (two) {
      addr(m.ip2, b, addrLen + 8);
      if (type === "hash:ip,port,net" && m.cidr2 !== undefined) {
        const net = b.subarray(addrLen + 8);
        for (let bit = m.cidr2; bit < addrLen * 8; bit++) {
          const mask = 0x80 >> (bit & 7);
          if (last) net[bit >> 3]! |= mask;
          else net[bit >> 3]! &= ~mask;
        }
      }
    }
    return b;
  };
  const put = (attr: number, bytes: Uint8Array) => {
    const n = w.nestStart(attr);
    w.bytesAttr(NFTA_DATA_VALUE, bytes);
    w.nestEnd(n);
  };
  put(NFTA_SET_ELEM.KEY, key(false));
  if (type === "hash:ip,port,net") put(NFTA_SET_ELEM.KEY_END, key(true));
}

function nfgen(w: MessageWriter, family: number, resId = 0): void {
  const at = w.header(4);
  w.view.setUint8(at, family);
  w.view.setUint8(at + 1, 0);
  w.view.setUint16(at + 2, resId, false);
}

function batchMark(w: MessageWriter, type: number, seq: number): void {
  w.begin(type, NLM_F_REQUEST, seq);
  nfgen(w, NFPROTO.UNSPEC, NFNL_SUBSYS_NFTABLES);
  w.end();
}

/** One message's worth of elements of one set, op and family. */
interface ElementMessage {
  op: "add" | "delete";
  family: Family;
  set: string;
  type: SetType;
  members: SetMember[];
}

/** Groups ops into messages of one set and op, at most {@link ELEMENTS_PER_MESSAGE} each. */
function messagesOf(ops: readonly ElementOp[]): ElementMessage[] {
  const by = new Map<string, ElementMessage[]>();
  for (const o of ops) {
    const k = `${o.op}/${o.family}/${o.set}`;
    let list = by.get(k);
    if (!list) by.set(k, list = []);
    let last = list[list.length - 1];
    if (!last || last.members.length >= ELEMENTS_PER_MESSAGE) {
      list.push(last = { op: o.op, family: o.family, set: o.set, type: o.type, members: [] });
    }
    last.members.push(o.member);
  }
  // Deletions first: an interval set refuses a new network that overlaps one being removed.
  const all = [...by.values()].flat();
  return [...all.filter((m) => m.op === "delete"), ...all.filter((m) => m.op === "add")];
}

/** Options of {@link NftNetlink.open}. */
export interface NftNetlinkOptions {
  transport?: NetlinkTransport;
  replyTimeoutMs?: number;
}

/** kipvs's nf_tables writes over netlink. */
export class NftNetlink {
  #c: NetlinkClient;

  private constructor(c: NetlinkClient) {
    this.#c = c;
  }

  /** Opens a netfilter netlink socket. */
  static open(options: NftNetlinkOptions = {}): NftNetlink {
    return new NftNetlink(new NetlinkClient({ protocol: NETLINK_NETFILTER, ...options }));
  }

  /** Netlink messages sent so far. */
  get messagesSent(): number {
    return this.#c.messagesSent;
  }

  /**
   * Applies element ops, {@link MESSAGES_PER_BATCH} messages to a transaction. Throws a `netlink`
   * KipvsError naming the first refused set when a transaction fails (the kernel then applied
   * none of that transaction's elements).
   */
  async applyElements(ops: readonly ElementOp[]): Promise<number> {
    const msgs = messagesOf(ops);
    let transactions = 0;
    for (let i = 0; i < msgs.length; i += MESSAGES_PER_BATCH) {
      const batch = msgs.slice(i, i + MESSAGES_PER_BATCH);
      const what = `nftables elements of ${[...new Set(batch.map((m) => m.set))].join(", ")}`;
      const errno = await this.#c.transaction((w, _flags, seq) => {
        batchMark(w, NFNL_MSG_BATCH_BEGIN, seq);
        batch.forEach((m, j) => this.#putElements(w, m, seq, j === batch.length - 1));
        batchMark(w, NFNL_MSG_BATCH_END, seq);
      }, what);
      transactions++;
      if (errno !== 0) {
        throw new KipvsError("netlink", `${what}: ${errnoName(errno)}`, {
          details: { errno, what },
        });
      }
    }
    return transactions;
  }

  #putElements(w: MessageWriter, m: ElementMessage, seq: number, last: boolean): void {
    const type = (NFNL_SUBSYS_NFTABLES << 8) |
      (m.op === "add" ? NFT_MSG.NEWSETELEM : NFT_MSG.DELSETELEM);
    const flags = NLM_F_REQUEST | (m.op === "add" ? NLM_F_CREATE : 0) | (last ? NLM_F_ACK : 0);
    w.begin(type, flags, seq);
    nfgen(w, m.family === 4 ? NFPROTO.IPV4 : NFPROTO.IPV6);
    w.string(NFTA_SET_ELEM_LIST.TABLE, NFT_TABLE);
    w.string(NFTA_SET_ELEM_LIST.SET, m.set);
    const list = w.nestStart(NFTA_SET_ELEM_LIST.ELEMENTS);
    for (const member of m.members) {
      const e = w.nestStart(NFTA_LIST_ELEM);
      putKey(w, m.type, m.family, member);
      w.nestEnd(e);
    }
    w.nestEnd(list);
    w.end();
  }

  /**
   * The elements of one of kipvs's sets, in the text `nft list` prints, read with one dump (in
   * the test kernel `nft list table` takes 8.7 s for 22,500 elements, of which reading them
   * back over netlink takes a fraction). Throws a netlink error (ENOENT: no such set).
   */
  async readElements(family: Family, set: string, type: SetType): Promise<string[]> {
    const out: string[] = [];
    const what = `read the elements of nftables set ${
      family === 4 ? "ip" : "ip6"
    } ${NFT_TABLE} ${set}`;
    await this.#c.dump(
      (w, flags, seq) => {
        w.begin((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG.GETSETELEM, flags, seq);
        nfgen(w, family === 4 ? NFPROTO.IPV4 : NFPROTO.IPV6);
        w.string(NFTA_SET_ELEM_LIST.TABLE, NFT_TABLE);
        w.string(NFTA_SET_ELEM_LIST.SET, set);
        w.end();
      },
      what,
      (view, m) => decodeElements(view, m.offset + 16 + 4, m.offset + m.length, type, family, out),
    );
    return out;
  }

  /** Whether kipvs's table of `family` (or the table `name`) exists. */
  async hasTable(family: Family, name = NFT_TABLE): Promise<boolean> {
    try {
      return await this.#c.request(
        (w, flags, seq) => {
          w.begin((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG.GETTABLE, flags, seq);
          nfgen(w, family === 4 ? NFPROTO.IPV4 : NFPROTO.IPV6);
          w.string(NFTA_TABLE_NAME, name);
          w.end();
        },
        `look up nftables table ${family === 4 ? "ip" : "ip6"} ${name}`,
        () => true,
      );
    } catch (err) {
      if (netlinkErrno(err) === ERRNO.ENOENT) return false;
      throw err;
    }
  }

  /** Deletes kipvs's tables (or the tables `name`) of `families` in one transaction. */
  async deleteTables(families: readonly Family[], name = NFT_TABLE): Promise<void> {
    if (families.length === 0) return;
    const what = `delete nftables table(s) ${name}`;
    const errno = await this.#c.transaction((w, _flags, seq) => {
      batchMark(w, NFNL_MSG_BATCH_BEGIN, seq);
      families.forEach((f, j) => {
        const last = j === families.length - 1;
        w.begin(
          (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG.DELTABLE,
          NLM_F_REQUEST | (last ? NLM_F_ACK : 0),
          seq,
        );
        nfgen(w, f === 4 ? NFPROTO.IPV4 : NFPROTO.IPV6);
        w.string(NFTA_TABLE_NAME, name);
        w.end();
      });
      batchMark(w, NFNL_MSG_BATCH_END, seq);
    }, what);
    if (errno !== 0) {
      throw new KipvsError("netlink", `${what}: ${errnoName(errno)}`, { details: { errno } });
    }
  }

  close(): void {
    this.#c.close();
  }
}

const PROTO_NAME: Record<number, string> = { 6: "tcp", 17: "udp", 132: "sctp" };

/** Calls `fn(type, payloadOffset, payloadLength)` for each attribute in `[start, end)`. */
function eachAttr(
  view: DataView,
  start: number,
  end: number,
  fn: (type: number, off: number, len: number) => void,
): void {
  let off = start;
  while (off + 4 <= end) {
    const len = view.getUint16(off, true);
    if (len < 4 || off + len > end) break;
    fn(view.getUint16(off + 2, true) & 0x3fff, off + 4, len - 4);
    off += (len + 3) & ~3;
  }
}

/** The NFTA_DATA_VALUE bytes nested in an attribute's payload. */
function dataValue(view: DataView, off: number, len: number): Uint8Array | undefined {
  let out: Uint8Array | undefined;
  eachAttr(view, off, off + len, (t, o, l) => {
    if (t === NFTA_DATA_VALUE) out = new Uint8Array(view.buffer, view.byteOffset + o, l);
  });
  return out;
}

/** Appends the elements of one GETSETELEM answer (attributes in `[start, end)`) to `out`. */
function decodeElements(
  view: DataView,
  start: number,
  end: number,
  type: SetType,
  family: Family,
  out: string[],
): void {
  eachAttr(view, start, end, (t, o, l) => {
    if (t !== NFTA_SET_ELEM_LIST.ELEMENTS) return;
    eachAttr(view, o, o + l, (te, oe, le) => {
      if (te !== NFTA_LIST_ELEM) return;
      let key: Uint8Array | undefined, keyEnd: Uint8Array | undefined;
      eachAttr(view, oe, oe + le, (ta, oa, la) => {
        if (ta === NFTA_SET_ELEM.KEY) key = dataValue(view, oa, la);
        if (ta === NFTA_SET_ELEM.KEY_END) keyEnd = dataValue(view, oa, la);
      });
      if (key) out.push(elementTextOf(type, family, key, keyEnd));
    });
  });
}

/** An element's key as nft prints it ("10.96.0.1 . tcp . 80", "... . 10.0.0.0/8"). */
export function elementTextOf(
  type: SetType,
  family: Family,
  key: Uint8Array,
  keyEnd?: Uint8Array,
): string {
  const n = family === 4 ? 4 : 16;
  if (type === "bitmap:port") return String((key[0]! << 8) | key[1]!);
  const addr = (at: number) => formatIPAt(family, key, at);
  if (type === "hash:ip") return addr(0);
  const head = `${addr(0)} . ${PROTO_NAME[key[n]!] ?? key[n]} . ${
    (key[n + 4]! << 8) | key[n + 5]!
  }`;
  if (type === "hash:ip,port") return head;
  if (type === "hash:ip,port,ip" || !keyEnd) return `${head} . ${addr(n + 8)}`;
  // An interval: the prefix is where the first and last address start to differ.
  let prefix = 0;
  while (prefix < n * 8) {
    const byte = n + 8 + (prefix >> 3), bit = 0x80 >> (prefix & 7);
    if ((key[byte]! & bit) !== (keyEnd[byte]! & bit)) break;
    prefix++;
  }
  return prefix === n * 8 ? `${head} . ${addr(n + 8)}` : `${head} . ${addr(n + 8)}/${prefix}`;
}
