/**
 * Checks and message text shared by the kernel and fake dummy links.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import { ERRNO, netlinkError } from "../netlink/errno.ts";
import type { AddressResult } from "./types.ts";
import { IFNAME_MAX } from "./constants.ts";

/** Throws invalid-config unless `name` can be an interface name. */
export function checkLinkName(name: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0 || bytes > IFNAME_MAX || /[\s/:]/.test(name) || name === "." || name === "..") {
    throw new KipvsError(
      "invalid-config",
      `invalid interface name "${name}": 1 to ${IFNAME_MAX} bytes, no "/", ":" or spaces`,
      { details: { name } },
    );
  }
}

/** "add address 10.96.0.10/32 to kube-ipvs0". */
export function addressWhat(kind: "add" | "delete", address: string, link: string): string {
  const plen = address.includes(":") ? 128 : 32;
  return kind === "add"
    ? `add address ${address}/${plen} to ${link}`
    : `delete address ${address}/${plen} from ${link}`;
}

/** A failed address result naming the address and the link. */
export function failedAddress(
  o: { kind: "add" | "delete"; address: string; link: string; errno: number; hint?: string },
): AddressResult {
  const hint = o.hint ?? (o.errno === ERRNO.ENODEV ? `no link ${o.link}` : undefined);
  return {
    ok: false,
    address: o.address,
    errno: o.errno,
    error: netlinkError({
      what: addressWhat(o.kind, o.address, o.link),
      errno: o.errno,
      hint,
      details: { address: o.address, link: o.link },
    }),
  };
}

/** The error for a link of the right name but the wrong kind. */
export function notDummy(name: string, kind: string): KipvsError {
  return new KipvsError(
    "invalid-config",
    `link ${name} exists but is not a dummy (kind "${kind || "none"}"); kipvs will not use it`,
    { details: { link: name, kind } },
  );
}
