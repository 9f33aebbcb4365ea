/**
 * The kernel's ipset netlink interface (uapi `linux/netfilter/nfnetlink.h`,
 * `linux/netfilter/ipset/ip_set.h`, `ip_set_hash.h`, `ip_set_bitmap.h`), one block per attribute
 * namespace with where it nests. ipset speaks nfnetlink (protocol NETLINK_NETFILTER): every
 * message is `struct nlmsghdr`, then `struct nfgenmsg`, then attributes.
 *
 * @module
 */

/** The netlink protocol of netfilter (the third argument of `socket(AF_NETLINK, ...)`). */
export const NETLINK_NETFILTER = 12;
/** nfnetlink subsystem id of ipset: message type = NFNL_SUBSYS_IPSET << 8 | command. */
export const NFNL_SUBSYS_IPSET = 6;
/** `struct nfgenmsg` { u8 family; u8 version; be16 res_id }. */
export const NFGENMSG_LEN = 4;
export const NFNETLINK_V0 = 0;

/** The ipset protocol versions kipvs speaks: 6 and 7 (Linux 5.x and 6.x answer 7, min 6). */
export const IPSET_PROTOCOL = 7;
export const IPSET_PROTOCOL_MIN = 6;

/** Set names: at most 31 bytes and the NUL. */
export const IPSET_MAXNAMELEN = 32;

/** Commands (the low byte of the message type). */
export const IPSET_CMD = {
  PROTOCOL: 1,
  CREATE: 2,
  DESTROY: 3,
  FLUSH: 4,
  SAVE: 8,
  ADD: 9,
  DEL: 10,
  HEADER: 12,
  TYPE: 13,
} as const;

/** Attributes at command level. */
export const CMD_ATTR = {
  PROTOCOL: 1, // u8, first in every message
  SETNAME: 2, // string
  TYPENAME: 3, // string
  REVISION: 4, // u8
  FAMILY: 5, // u8: NFPROTO_IPV4 2, NFPROTO_IPV6 10, NFPROTO_UNSPEC 0
  FLAGS: 6, // u32, network order
  DATA: 7, // nested (NLA_F_NESTED required): DATA_ATTR
  ADT: 8, // nested: several DATA (restore mode with LINENO; kipvs sends one DATA)
  LINENO: 9, // u32
  PROTOCOL_MIN: 10, // u8 in PROTOCOL replies; REVISION_MIN in TYPE replies
  MAX: 10,
} as const;

/**
 * Attributes inside CMD_ATTR.DATA, and inside each DATA of CMD_ATTR.ADT in dumps. Entries and
 * create options share the numbers below 17; from 17 they differ (INITVAL/BUCKETSIZE in a
 * set's header, IP2/CIDR2 in an entry).
 */
export const DATA_ATTR = {
  IP: 1, // nested (NLA_F_NESTED): IPADDR
  CIDR: 3, // u8
  PORT: 4, // u16, network order, NLA_F_NET_BYTEORDER
  PORT_TO: 5, // u16, network order, NLA_F_NET_BYTEORDER
  TIMEOUT: 6, // u32, network order
  PROTO: 7, // u8: IPPROTO_TCP 6, IPPROTO_UDP 17, IPPROTO_SCTP 132
  CADT_FLAGS: 8, // u32, network order
  INITVAL: 17, // header: u32, network order
  HASHSIZE: 18, // u32, network order, NLA_F_NET_BYTEORDER
  MAXELEM: 19, // u32, network order, NLA_F_NET_BYTEORDER
  IP2: 20, // entry: nested (NLA_F_NESTED): IPADDR
  CIDR2: 21, // entry: u8
  BUCKETSIZE: 21, // header: u8
  MAX: 30,
} as const;

/** Attributes inside DATA_ATTR.IP and IP2: the address, network order, NLA_F_NET_BYTEORDER. */
export const IPADDR_ATTR = {
  IPV4: 1, // 4 bytes
  IPV6: 2, // 16 bytes
} as const;

/** Set on an attribute whose value is in network byte order; the kernel refuses it without. */
export const NLA_F_NET_BYTEORDER = 0x4000;

/** Families of ipset (netfilter's NFPROTO_*, numerically the AF_* values). */
export const NFPROTO = { UNSPEC: 0, IPV4: 2, IPV6: 10 } as const;

/** Transport protocols of hash:ip,port entries. */
export const IPPROTO: Readonly<Record<string, number>> = { tcp: 6, udp: 17, sctp: 132 };

/**
 * ipset's private error numbers (the kernel answers `-errno`), after the generic errnos. Type
 * specific ones start at 4352 and mean different things for hash and bitmap types.
 */
export const IPSET_ERR = {
  PROTOCOL: 4097,
  FIND_TYPE: 4098,
  MAX_SETS: 4099,
  BUSY: 4100,
  EXIST_SETNAME2: 4101,
  TYPE_MISMATCH: 4102,
  EXIST: 4103,
  INVALID_CIDR: 4104,
  INVALID_NETMASK: 4105,
  INVALID_FAMILY: 4106,
  TIMEOUT: 4107,
  REFERENCED: 4108,
  IPADDR_IPV4: 4109,
  IPADDR_IPV6: 4110,
  COUNTER: 4111,
  COMMENT: 4112,
  INVALID_MARKMASK: 4113,
  SKBINFO: 4114,
  TYPE_SPECIFIC: 4352,
} as const;

/** Type-specific errors of hash:* sets (ip_set_hash.h). */
export const IPSET_ERR_HASH = {
  FULL: 4352,
  ELEM: 4353,
  INVALID_PROTO: 4354,
  MISSING_PROTO: 4355,
  RANGE_UNSUPPORTED: 4356,
  RANGE: 4357,
} as const;

/** Type-specific errors of bitmap:* sets (ip_set_bitmap.h). */
export const IPSET_ERR_BITMAP = {
  RANGE: 4352,
  RANGE_SIZE: 4353,
} as const;
