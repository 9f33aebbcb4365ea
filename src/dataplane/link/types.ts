/**
 * The dummy interface kipvs binds service addresses to (`kube-ipvs0`, as kube-proxy names
 * it), behind an interface with a kernel implementation (`kernel.ts`) and a fake (tests/dataplane/link/fake.ts).
 *
 * @module
 */

import type { KipvsError } from "../../errors.ts";

/** kube-proxy's name for the dummy interface. */
export const DEFAULT_DUMMY_NAME = "kube-ipvs0";

/** What the kernel says about a link. */
export interface LinkState {
  name: string;
  index: number;
  /** The link kind ("dummy"); "" for a link without one (a physical device). */
  kind: string;
  /** Administratively up. */
  up: boolean;
}

/** The outcome of one address of a batch. */
export type AddressResult =
  | { ok: true; address: string }
  | {
    ok: false;
    address: string;
    /** The kernel's errno (EEXIST on a duplicate add, EADDRNOTAVAIL on a missing delete). */
    errno: number;
    /** A netlink KipvsError naming the address and the link. */
    error: KipvsError;
  };

/** The dummy link and its addresses in one network namespace. */
export interface DummyLink {
  /** The link's name. */
  readonly name: string;
  /**
   * Creates the link as a dummy, left down as kube-proxy leaves it, unless it exists. A link of
   * that name that is not a dummy is an error (`invalid-config`), never touched.
   */
  ensure(): Promise<LinkState>;
  /** The link, or undefined when it does not exist. */
  get(): Promise<LinkState | undefined>;
  /** The link's addresses in canonical text, both families; [] when the link is absent. */
  listAddresses(): Promise<string[]>;
  /** Adds each address as /32 or /128 ("like: ip addr add $a/32 dev kube-ipvs0"); one result each. */
  addAddresses(addresses: readonly string[]): Promise<AddressResult[]>;
  /** Deletes each address; one result each. */
  deleteAddresses(addresses: readonly string[]): Promise<AddressResult[]>;
  /** Deletes the link (only a dummy); false when there was none. */
  delete(): Promise<boolean>;
  /** Netlink messages sent so far. */
  readonly messagesSent: number;
  close(): void;
}
