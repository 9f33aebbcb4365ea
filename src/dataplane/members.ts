/**
 * Set members as data, for any sets backend: the planner writes kube-proxy's set members in this
 * form, the ipset backend encodes them field by field into netlink attributes (and renders them
 * as text only for the `ipset` program), and a native nftables backend would write them as set
 * elements. Modelled on vishvananda/netlink's `IPSetEntry`: one record whose fields are the
 * dimensions a set type has (`hash:ip,port,net` has ip, protocol, port, ip2 and cidr2).
 *
 * Each member carries a `key`, derived once when it is made: its identity within its set, which
 * plan, reconcile and diagnostics compare and count by. The key is ipset's own notation
 * ("10.96.0.1,tcp:443", "203.0.113.10,tcp:80,10.0.0.0/8", "30080"), so that human output and
 * `ipset restore` lines need no second spelling; nothing parses it back.
 *
 * @module
 */

import type { Family } from "../net/family.ts";
import { parseIPInto } from "../net/ip.ts";

/** The transport protocols of set members. */
export type SetProtocol = "tcp" | "udp" | "sctp";

/** The dimensions of a member (what {@link setMember} takes). */
export interface MemberFields {
  /** The first address (every hash type), canonical (net/ip.ts). */
  ip?: string;
  protocol?: SetProtocol;
  /** The port (with `protocol` in hash types; alone in bitmap:port). */
  port?: number;
  /** The second address: a source (hash:ip,port,ip) or a network (hash:ip,port,net). */
  ip2?: string;
  /** The prefix length of `ip2` as a network (hash:ip,port,net only). */
  cidr2?: number;
}

/** One member of a set. */
export interface SetMember extends Readonly<MemberFields> {
  /** Identity within the set, in ipset's notation (see the module notes). */
  readonly key: string;
}

/** A set's members by {@link SetMember.key}. */
export type SetMembers = Map<string, SetMember>;

/** A set's members, read only. */
export type ReadonlySetMembers = ReadonlyMap<string, SetMember>;

/**
 * Makes a member and its key. Addresses must be canonical already (the plan's are; a parser of
 * text canonicalises first): the key is built from them as they are.
 */
export function setMember(f: MemberFields): SetMember {
  // Every field in one literal: every member has one shape (one hidden class in V8).
  return {
    key: memberKey(f),
    ip: f.ip,
    protocol: f.protocol,
    port: f.port,
    ip2: f.ip2,
    cidr2: f.cidr2,
  };
}

/** A member kipvs does not model (an `ipset save` entry of another form): its text is its key. */
export function foreignMember(text: string): SetMember {
  return { key: text };
}

/** Whether a member has fields at all (false for a {@link foreignMember}). */
export function isTyped(m: SetMember): boolean {
  return m.ip !== undefined || m.port !== undefined;
}

/** ipset's notation of the fields: what {@link SetMember.key} holds. */
function memberKey(f: MemberFields): string {
  if (f.ip === undefined) return String(f.port);
  if (f.port === undefined) return f.ip;
  const ipPort = `${f.ip},${f.protocol}:${f.port}`;
  if (f.ip2 === undefined) return ipPort;
  // ipset prints a host network (/32, /128) as a bare address.
  const host = f.ip2.includes(":") ? 128 : 32;
  return f.cidr2 === undefined || f.cidr2 === host
    ? `${ipPort},${f.ip2}`
    : `${ipPort},${f.ip2}/${f.cidr2}`;
}

/** The set types kipvs writes, by the dimensions their members have. */
export type MemberType =
  | "hash:ip"
  | "hash:ip,port"
  | "hash:ip,port,ip"
  | "hash:ip,port,net"
  | "bitmap:port";

const scratch = new Uint8Array(16);

function addressOf(ip: string | undefined, family: Family): boolean {
  return ip !== undefined && parseIPInto(ip, scratch) === family;
}

/**
 * Why a member does not fit a set of `type` holding addresses of `family` (a field missing or
 * extra, an address of the other family), or undefined when it fits.
 */
export function memberMisfit(type: MemberType, family: Family, m: SetMember): string | undefined {
  if (type === "bitmap:port") {
    return m.ip === undefined && isPort(m.port) ? undefined : "a bitmap:port member is a port";
  }
  if (!addressOf(m.ip, family)) return `"${m.ip ?? ""}" is not an IPv${family} address`;
  const hasPort = m.protocol !== undefined && isPort(m.port);
  if (type === "hash:ip") return m.port === undefined ? undefined : "expected one address";
  if (!hasPort) return "no protocol:port (tcp, udp, sctp)";
  if (type === "hash:ip,port") return m.ip2 === undefined ? undefined : "expected ip,proto:port";
  if (!addressOf(m.ip2, family)) return `"${m.ip2 ?? ""}" is not an IPv${family} address`;
  if (type === "hash:ip,port,ip") return m.cidr2 === undefined ? undefined : "no network here";
  const max = family === 4 ? 32 : 128;
  const c = m.cidr2;
  return c !== undefined && Number.isInteger(c) && c >= 1 && c <= max
    ? undefined
    : `prefix length ${c} is not 1-${max}`;
}

function isPort(p: number | undefined): boolean {
  return p !== undefined && Number.isInteger(p) && p >= 0 && p <= 65535;
}
