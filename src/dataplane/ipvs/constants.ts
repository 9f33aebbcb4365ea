/**
 * The kernel's IPVS generic netlink interface (uapi `linux/ip_vs.h`), one block per attribute
 * namespace with where it nests.
 *
 * @module
 */

/** Generic netlink family name and the protocol version kipvs speaks. */
export const IPVS_GENL_NAME = "IPVS";
export const IPVS_GENL_VERSION = 1;

/** Commands. */
export const CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  SET_CONFIG: 12,
  GET_CONFIG: 13,
  GET_INFO: 15,
  ZERO: 16,
  FLUSH: 17,
} as const;

/** Top-level attributes of a command. */
export const CMD_ATTR = {
  SERVICE: 1, // nested: SVC_ATTR
  DEST: 2, // nested: DEST_ATTR
  DAEMON: 3,
  TIMEOUT_TCP: 4, // u32 seconds
  TIMEOUT_TCP_FIN: 5,
  TIMEOUT_UDP: 6,
  MAX: 6,
} as const;

/** Attributes inside CMD_ATTR.SERVICE. */
export const SVC_ATTR = {
  AF: 1, // u16
  PROTOCOL: 2, // u16
  ADDR: 3, // 16 bytes, IPv4 in the first 4
  PORT: 4, // u16, network byte order
  FWMARK: 5, // u32
  SCHED_NAME: 6, // string
  FLAGS: 7, // struct ip_vs_flags { u32 flags; u32 mask; }, host order
  TIMEOUT: 8, // u32 seconds
  NETMASK: 9, // u32: IPv4 mask bytes in network order; IPv6 prefix length
  STATS: 10, // nested: STATS_ATTR, u32 counters (u64 bytes)
  PE_NAME: 11, // string
  STATS64: 12, // nested: STATS_ATTR, all u64
  MAX: 12,
} as const;

/** Attributes inside CMD_ATTR.DEST. */
export const DEST_ATTR = {
  ADDR: 1, // 16 bytes
  PORT: 2, // u16, network byte order
  FWD_METHOD: 3, // u32, IP_VS_CONN_F_FWD_MASK bits
  WEIGHT: 4, // u32
  U_THRESH: 5, // u32
  L_THRESH: 6, // u32
  ACTIVE_CONNS: 7, // u32
  INACT_CONNS: 8, // u32
  PERSIST_CONNS: 9, // u32
  STATS: 10, // nested: STATS_ATTR
  ADDR_FAMILY: 11, // u16 (a destination may differ from its service with tunnelling)
  STATS64: 12, // nested: STATS_ATTR
  TUN_TYPE: 13, // u8
  TUN_PORT: 14, // u16, network byte order
  TUN_FLAGS: 15, // u16
  MAX: 15,
} as const;

/** Attributes inside SVC_ATTR.STATS(64) and DEST_ATTR.STATS(64). */
export const STATS_ATTR = {
  CONNS: 1,
  INPKTS: 2,
  OUTPKTS: 3,
  INBYTES: 4, // u64 in both variants
  OUTBYTES: 5,
  CPS: 6,
  INPPS: 7,
  OUTPPS: 8,
  INBPS: 9,
  OUTBPS: 10,
  MAX: 10,
} as const;

/** Attributes of a GET_INFO reply (top level). */
export const INFO_ATTR = {
  VERSION: 1, // u32: major << 16 | minor << 8 | patch
  CONN_TAB_SIZE: 2, // u32
  MAX: 2,
} as const;

/** Service flags (IP_VS_SVC_F_*). */
export const SVC_F = {
  PERSISTENT: 0x1,
  /** Set by the kernel on every hashed service: never sent, stripped when read. */
  HASHED: 0x2,
  ONEPACKET: 0x4,
  /** sh-fallback / mh-fallback. */
  SCHED1: 0x8,
  /** sh-port / mh-port. */
  SCHED2: 0x10,
  SCHED3: 0x20,
} as const;

/** Forwarding methods (IP_VS_CONN_F_FWD_MASK values) by kernel name. */
export const FWD = {
  masq: 0,
  local: 1,
  tunnel: 2,
  droute: 3,
  bypass: 4,
} as const;

/** Tunnel types of tunnel forwarding (IP_VS_CONN_F_TUNNEL_TYPE_*). */
export const TUN_TYPE = { ipip: 0, gue: 1, gre: 2 } as const;

/** Tunnel encapsulation flags (IP_VS_TUNNEL_ENCAP_FLAG_*); none means no checksum. */
export const TUN_F = { CSUM: 0x1, REMCSUM: 0x2 } as const;

/** IP protocol numbers of the transport protocols IPVS balances. */
export const IPPROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const;

/** Every scheduler Linux has (net/netfilter/ipvs/ip_vs_*.c). */
export const SCHEDULERS = [
  "rr",
  "wrr",
  "lc",
  "wlc",
  "lblc",
  "lblcr",
  "dh",
  "sh",
  "sed",
  "nq",
  "fo",
  "ovf",
  "mh",
  "twos",
  /** No scheduler: the kernel accepts it for services that only forward by persistence. */
  "none",
] as const;
