/**
 * ctnetlink (uapi `linux/netfilter/nfnetlink_conntrack.h`): the conntrack table over netfilter
 * netlink, subsystem NFNL_SUBSYS_CTNETLINK of protocol NETLINK_NETFILTER. A message is the
 * netlink header (type `NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_*`), `struct nfgenmsg` (the
 * address family, version 0, res_id 0) and attributes. Addresses and ports travel in network
 * byte order.
 *
 * @module
 */

/** The ctnetlink subsystem of nfnetlink. */
export const NFNL_SUBSYS_CTNETLINK = 1;

/** Message types of the subsystem. */
export const IPCTNL_MSG = { NEW: 0, GET: 1, DELETE: 2, GET_STATS: 5 } as const;

/** Top-level attributes of a conntrack entry (`enum ctattr_type`). */
export const CTA = {
  TUPLE_ORIG: 1,
  TUPLE_REPLY: 2,
  STATUS: 3,
  ID: 12,
  ZONE: 18,
} as const;
/** The highest top-level attribute read. */
export const CTA_MAX = 18;

/** Attributes nested in CTA_TUPLE_ORIG and CTA_TUPLE_REPLY (`enum ctattr_tuple`). */
export const CTA_TUPLE = { IP: 1, PROTO: 2, ZONE: 3 } as const;
export const CTA_TUPLE_MAX = 3;

/** Attributes nested in CTA_TUPLE_IP (`enum ctattr_ip`). */
export const CTA_IP = { V4_SRC: 1, V4_DST: 2, V6_SRC: 3, V6_DST: 4 } as const;
export const CTA_IP_MAX = 4;

/** Attributes nested in CTA_TUPLE_PROTO (`enum ctattr_l4proto`). */
export const CTA_PROTO = { NUM: 1, SRC_PORT: 2, DST_PORT: 3 } as const;
export const CTA_PROTO_MAX = 3;

/** IP protocol numbers. */
export const IPPROTO_UDP = 17;
