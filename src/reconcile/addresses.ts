/**
 * The kube-ipvs0 reconciler: the dummy link exists, and holds every planned service address and
 * no other. Addresses are added in {@link AddressReconciler.update}, before the virtual servers
 * that need them, and removed in {@link AddressReconciler.prune}, after everything that sent
 * traffic to them. Like kube-proxy, every address kipvs does not want goes: `--ipvs-exclude-cidrs`
 * protects virtual servers only.
 *
 * @module
 */

import type { DummyLink } from "../dataplane/link/types.ts";
import type { Reconciler, SyncScope, Write } from "./reconciler.ts";

/** The errno of an address added twice (already bound: not a failure). */
const EEXIST = 17;
/** The errno of an address deleted twice (not bound: not a failure). */
const EADDRNOTAVAIL = 99;

/** Reconciles kube-ipvs0 and its addresses. */
export class AddressReconciler implements Reconciler {
  readonly name = "addresses";
  readonly phase = "addresses" as const;
  #link: DummyLink;
  /** Addresses a full sync's update found bound and unplanned, for its prune. */
  #unwanted: string[] = [];

  constructor(link: DummyLink) {
    this.#link = link;
  }

  async update(scope: SyncScope): Promise<Write[] | undefined> {
    const writes: Write[] = [];
    if (scope.changes) {
      const add = [...scope.changes.addressesAdded];
      if (add.length === 0) return undefined;
      await this.#ensure(scope, writes);
      await this.#add(add, scope, writes);
      return writes;
    }
    await this.#ensure(scope, writes);
    const bound = new Set(await this.#link.listAddresses());
    const planned = scope.desired.addresses;
    this.#unwanted = [...bound].filter((a) => !planned.has(a));
    await this.#add([...planned].filter((a) => !bound.has(a)), scope, writes);
    return writes;
  }

  async prune(scope: SyncScope): Promise<Write[]> {
    const del = scope.changes ? [...scope.changes.addressesRemoved] : this.#unwanted;
    this.#unwanted = [];
    const writes: Write[] = [];
    if (del.length === 0) return writes;
    for (const res of await this.#link.deleteAddresses(del)) {
      if (res.ok) {
        scope.report.addressesRemoved++;
        if (scope.record) writes.push({ kind: "address", action: "delete", object: res.address });
      } else if (res.errno !== EADDRNOTAVAIL) scope.failures.push(res.error.message);
    }
    return writes;
  }

  reset(): void {
    this.#unwanted = [];
  }

  /** Creates kube-ipvs0 when it is missing (a write: someone deleted it, or a first start). */
  async #ensure(scope: SyncScope, writes: Write[]): Promise<void> {
    if (await this.#link.get()) return;
    await this.#link.ensure();
    if (scope.record) writes.push({ kind: "link", action: "add", object: this.#link.name });
  }

  async #add(addrs: string[], scope: SyncScope, writes: Write[]): Promise<void> {
    if (addrs.length === 0) return;
    for (const res of await this.#link.addAddresses(addrs)) {
      if (res.ok) {
        scope.report.addressesAdded++;
        if (scope.record) writes.push({ kind: "address", action: "add", object: res.address });
      } else if (res.errno !== EEXIST) scope.failures.push(res.error.message);
    }
  }
}
