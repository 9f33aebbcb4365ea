/**
 * Netlink constants shared by every family kipvs speaks (uapi `linux/netlink.h`,
 * `linux/genetlink.h`, socket options). Family-specific constants live beside their family
 * (`../ipvs/constants.ts`, `../link/constants.ts`).
 *
 * @module
 */

/** Netlink protocols (the third argument of `socket(AF_NETLINK, ...)`). */
export const NETLINK_ROUTE = 0;
/** Generic netlink, which carries the IPVS family. */
export const NETLINK_GENERIC = 16;

/** Size of `struct nlmsghdr` (len u32, type u16, flags u16, seq u32, pid u32). */
export const NLMSG_HDRLEN = 16;
/** Size of `struct genlmsghdr` (cmd u8, version u8, reserved u16). */
export const GENL_HDRLEN = 4;
/** Size of `struct nlattr` (len u16, type u16). */
export const NLA_HDRLEN = 4;
/** Bit set in an attribute type for nested attributes (some writers set it; readers mask it). */
export const NLA_F_NESTED = 0x8000;
/** Mask of the attribute type proper. */
export const NLA_TYPE_MASK = 0x3fff;

/** Control message types. */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** Flags of every request. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
/** Flags of GET requests. */
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** Flags of NEW requests. */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

/** Socket option levels and options (asm-generic values: the same on x86_64 and aarch64). */
export const SOL_SOCKET = 1;
export const SO_ERROR = 4;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SOL_NETLINK = 270;
/** Error acknowledgements carry only the failing message's header, not its whole payload. */
export const NETLINK_CAP_ACK = 10;
/** Dump requests are checked strictly and their header fields filter (Linux 4.20+). */
export const NETLINK_GET_STRICT_CHK = 12;

/** `poll()` events. */
export const POLLIN = 0x1;
export const POLLERR = 0x8;
/** `recv()` flags. */
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;

/** Address families. */
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
