/**
 * What the kernel's answer to an ipset request means, in the words the `ipset` program uses:
 * ipset's private error numbers (4096 and up; those from 4352 mean different things for hash
 * and bitmap types) and the generic errnos whose meaning depends on the command.
 *
 * @module
 */

import { ERRNO, errnoName, errnoText } from "../netlink/errno.ts";
import { IPSET_ERR, IPSET_ERR_BITMAP, IPSET_ERR_HASH } from "./constants.ts";

/** The command a refused message carried. */
export type IpsetVerb = "create" | "add" | "del" | "destroy" | "flush" | "type" | "header";

const GENERIC: Record<number, [string, string]> = {
  [IPSET_ERR.PROTOCOL]: ["IPSET_ERR_PROTOCOL", "Kernel error received: ipset protocol error"],
  [IPSET_ERR.FIND_TYPE]: ["IPSET_ERR_FIND_TYPE", "Kernel error received: set type not supported"],
  [IPSET_ERR.MAX_SETS]: [
    "IPSET_ERR_MAX_SETS",
    "Kernel error received: maximal number of sets reached, cannot create more",
  ],
  [IPSET_ERR.BUSY]: [
    "IPSET_ERR_BUSY",
    "Set cannot be destroyed: it is in use by a kernel component",
  ],
  [IPSET_ERR.INVALID_CIDR]: [
    "IPSET_ERR_INVALID_CIDR",
    "The value of the CIDR parameter of the IP address is invalid",
  ],
  [IPSET_ERR.INVALID_NETMASK]: [
    "IPSET_ERR_INVALID_NETMASK",
    "The value of the netmask parameter is invalid",
  ],
  [IPSET_ERR.INVALID_FAMILY]: [
    "IPSET_ERR_INVALID_FAMILY",
    "Protocol family not supported by the set type",
  ],
  [IPSET_ERR.TIMEOUT]: [
    "IPSET_ERR_TIMEOUT",
    "Timeout cannot be used: set was created without timeout support",
  ],
  [IPSET_ERR.REFERENCED]: ["IPSET_ERR_REFERENCED", "The set is in use by a kernel component"],
  [IPSET_ERR.IPADDR_IPV4]: [
    "IPSET_ERR_IPADDR_IPV4",
    "An IPv4 address is expected, but not received",
  ],
  [IPSET_ERR.IPADDR_IPV6]: [
    "IPSET_ERR_IPADDR_IPV6",
    "An IPv6 address is expected, but not received",
  ],
};

const HASH: Record<number, [string, string]> = {
  [IPSET_ERR_HASH.FULL]: ["IPSET_ERR_HASH_FULL", "Hash is full, cannot add more elements"],
  [IPSET_ERR_HASH.ELEM]: [
    "IPSET_ERR_HASH_ELEM",
    "Null-valued element, cannot be stored in a hash type of set",
  ],
  [IPSET_ERR_HASH.INVALID_PROTO]: ["IPSET_ERR_INVALID_PROTO", "Invalid protocol specified"],
  [IPSET_ERR_HASH.MISSING_PROTO]: [
    "IPSET_ERR_MISSING_PROTO",
    "Protocol missing, but must be specified",
  ],
};

const BITMAP: Record<number, [string, string]> = {
  [IPSET_ERR_BITMAP.RANGE]: ["IPSET_ERR_BITMAP_RANGE", "Element is out of the range of the set"],
  [IPSET_ERR_BITMAP.RANGE_SIZE]: [
    "IPSET_ERR_BITMAP_RANGE_SIZE",
    "The range you specified exceeds the size limit of the set type",
  ],
};

const EXIST: Partial<Record<IpsetVerb, string>> = {
  create: "Set cannot be created: set with the same name already exists",
  add: "Element cannot be added to the set: it's already added",
  del: "Element cannot be deleted from the set: it's not added",
};

/** The symbolic name of an ipset answer: "IPSET_ERR_EXIST", "ENOENT", "errno 4400". */
export function ipsetErrnoName(errno: number, setType?: string): string {
  return describe(errno, "add", setType)[0];
}

/**
 * "Element is out of the range of the set (IPSET_ERR_BITMAP_RANGE)" for 4352 on a bitmap set;
 * "The set with the given name does not exist (ENOENT)" for ENOENT on a set command.
 */
export function ipsetErrorText(errno: number, verb: IpsetVerb, setType?: string): string {
  const [name, text] = describe(errno, verb, setType);
  return `${text} (${name})`;
}

function describe(errno: number, verb: IpsetVerb, setType?: string): [string, string] {
  if (errno === IPSET_ERR.EXIST) {
    return ["IPSET_ERR_EXIST", EXIST[verb] ?? "Kernel error received: it already exists"];
  }
  // The kernel answers a create whose set exists but differs with EEXIST, not IPSET_ERR_EXIST.
  if (errno === ERRNO.EEXIST && verb === "create") return ["EEXIST", EXIST.create!];
  if (errno === ERRNO.ENOENT && verb !== "type") {
    return ["ENOENT", "The set with the given name does not exist"];
  }
  const specific = setType?.startsWith("bitmap:") ? BITMAP : setType ? HASH : {};
  const known = GENERIC[errno] ?? specific[errno];
  if (known) return known;
  if (errno >= IPSET_ERR.TYPE_SPECIFIC) {
    return [`IPSET_ERR ${errno}`, `Kernel error received: set type specific error ${errno}`];
  }
  if (errno > 4096) return [`IPSET_ERR ${errno}`, `Kernel error received: ipset error ${errno}`];
  // ipset's own words for any other errno (libipset: "Kernel error received: %s", strerror).
  return [
    errnoName(errno),
    `Kernel error received: ${errnoText(errno).replace(/ \([A-Z0-9]+\)$/, "")}`,
  ];
}
