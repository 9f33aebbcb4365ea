/**
 * An in-memory {@link DummyLink} that answers like the kernel: EEXIST for an address already
 * there, EADDRNOTAVAIL for deleting one that is not, ENODEV when the link is missing, EINVAL for
 * text that is no address. For unit tests; never a stand-in for the kernel tests.
 *
 * @module
 */

import { canonicalIP } from "../../../src/net/ip.ts";
import { ERRNO } from "../../../src/dataplane/netlink/errno.ts";
import { checkLinkName, failedAddress, notDummy } from "../../../src/dataplane/link/describe.ts";
import {
  type AddressResult,
  DEFAULT_DUMMY_NAME,
  type DummyLink,
  type LinkState,
} from "../../../src/dataplane/link/types.ts";

/** Options of {@link FakeDummyLink}. */
export interface FakeDummyLinkOptions {
  /** The link's name (default kube-ipvs0). */
  name?: string;
  /** A link that already exists under that name ("dummy" or another kind). */
  existing?: { kind: string; up?: boolean; addresses?: string[] };
}

/** In-memory dummy link. */
export class FakeDummyLink implements DummyLink {
  readonly name: string;
  #link: (LinkState & { addresses: Set<string> }) | undefined;
  #nextIndex = 10;
  #sent = 0;

  constructor(options: FakeDummyLinkOptions = {}) {
    this.name = options.name ?? DEFAULT_DUMMY_NAME;
    checkLinkName(this.name);
    const e = options.existing;
    if (e) {
      this.#link = {
        name: this.name,
        index: this.#nextIndex++,
        kind: e.kind,
        up: e.up ?? false,
        addresses: new Set((e.addresses ?? []).map((a) => canonicalIP(a) ?? a)),
      };
    }
  }

  get messagesSent(): number {
    return this.#sent;
  }

  get(): Promise<LinkState | undefined> {
    this.#sent++;
    return Promise.resolve(this.#state());
  }

  ensure(): Promise<LinkState> {
    this.#sent++;
    if (this.#link && this.#link.kind !== "dummy") {
      return Promise.reject(notDummy(this.name, this.#link.kind));
    }
    if (!this.#link) {
      this.#sent++;
      this.#link = {
        name: this.name,
        index: this.#nextIndex++,
        kind: "dummy",
        up: false,
        addresses: new Set(),
      };
    }
    return Promise.resolve(this.#state() as LinkState);
  }

  listAddresses(): Promise<string[]> {
    this.#sent++;
    return Promise.resolve(this.#link ? [...this.#link.addresses] : []);
  }

  addAddresses(addresses: readonly string[]): Promise<AddressResult[]> {
    return Promise.resolve(this.#change("add", addresses));
  }

  deleteAddresses(addresses: readonly string[]): Promise<AddressResult[]> {
    return Promise.resolve(this.#change("delete", addresses));
  }

  delete(): Promise<boolean> {
    this.#sent++;
    if (!this.#link) return Promise.resolve(false);
    if (this.#link.kind !== "dummy") return Promise.reject(notDummy(this.name, this.#link.kind));
    this.#sent++;
    this.#link = undefined;
    return Promise.resolve(true);
  }

  close(): void {}

  #state(): LinkState | undefined {
    if (!this.#link) return undefined;
    const { name, index, kind, up } = this.#link;
    return { name, index, kind, up };
  }

  #change(kind: "add" | "delete", addresses: readonly string[]): AddressResult[] {
    this.#sent++;
    const link = this.#link;
    return addresses.map((address): AddressResult => {
      const c = canonicalIP(address);
      const fail = (errno: number, hint?: string) =>
        failedAddress({ kind, address, link: this.name, errno, hint });
      if (c === undefined) return fail(ERRNO.EINVAL, `invalid IP address "${address}"`);
      if (!link) return fail(ERRNO.ENODEV);
      this.#sent++;
      if (kind === "add") {
        if (link.addresses.has(c)) return fail(ERRNO.EEXIST);
        link.addresses.add(c);
      } else if (!link.addresses.delete(c)) {
        return fail(ERRNO.EADDRNOTAVAIL);
      }
      return { ok: true, address };
    });
  }
}
