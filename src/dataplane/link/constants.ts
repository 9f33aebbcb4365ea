/**
 * rtnetlink constants for links and addresses (uapi `linux/rtnetlink.h`, `linux/if_link.h`,
 * `linux/if_addr.h`).
 *
 * @module
 */

/** Message types. */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
} as const;

/** Size of `struct ifinfomsg` (family u8, pad u8, type u16, index i32, flags u32, change u32). */
export const IFINFOMSG_LEN = 16;
/** Size of `struct ifaddrmsg` (family u8, prefixlen u8, flags u8, scope u8, index u32). */
export const IFADDRMSG_LEN = 8;

/** Link attributes (after `struct ifinfomsg`). */
export const IFLA = {
  IFNAME: 3, // string
  LINKINFO: 18, // nested: IFLA_INFO
  MAX: 18,
} as const;

/** Attributes inside IFLA.LINKINFO. */
export const IFLA_INFO = {
  KIND: 1, // string: "dummy"
  MAX: 1,
} as const;

/** Address attributes (after `struct ifaddrmsg`). */
export const IFA = {
  ADDRESS: 1, // the prefix address (IPv6 uses only this one)
  LOCAL: 2, // the local address (IPv4)
  MAX: 2,
} as const;

/** Link flag: administratively up. */
export const IFF_UP = 0x1;
/** Address scope "global" (RT_SCOPE_UNIVERSE), what `ip addr add` and kube-proxy use. */
export const RT_SCOPE_UNIVERSE = 0;
/** The most bytes of an interface name (IFNAMSIZ less the NUL). */
export const IFNAME_MAX = 15;
