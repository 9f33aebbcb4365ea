/**
 * Real servers that kipvs stopped wanting but that still carry connections: they sit at weight 0
 * until their active and inactive connections reach 0, then are deleted (kube-proxy's graceful
 * termination). A real server wanted again is taken off the list by the sync that restores its
 * weight.
 *
 * @module
 */

import type { ServiceKey } from "../dataplane/ipvs/types.ts";
import type { Ipvs, IpvsOp } from "../dataplane/ipvs/types.ts";
import { destinationKey, type Draining } from "./ipvs.ts";

/** The draining real servers, by "vsKey dest". */
export class GracefulTermination {
  #draining = new Map<string, Draining>();

  /** Replaces what one sync found draining for the given virtual servers. */
  track(vsKeys: Iterable<string>, draining: readonly Draining[]): void {
    const keys = new Set(vsKeys);
    for (const [k, d] of this.#draining) if (keys.has(d.vs)) this.#draining.delete(k);
    for (const d of draining) this.#draining.set(`${d.vs} ${destinationKey(d.destination)}`, d);
  }

  /** Forgets everything (a full sync re-reads the kernel and tracks again). */
  clear(): void {
    this.#draining.clear();
  }

  /** Whether real server `dest` ("10.244.1.2:8080") of virtual server `vs` is draining. */
  has(vs: string, dest: string): boolean {
    return this.#draining.has(`${vs} ${dest}`);
  }

  /** How many real servers are draining. */
  get size(): number {
    return this.#draining.size;
  }

  /** The draining real servers. */
  list(): Draining[] {
    return [...this.#draining.values()];
  }

  /**
   * Reads the connection counts of every draining real server and deletes those at 0, or gone,
   * or wanted again (weight > 0). Returns the delete operations that were applied.
   */
  async check(ipvs: Ipvs): Promise<IpvsOp[]> {
    const byVs = new Map<string, { service: ServiceKey; keys: string[] }>();
    for (const [k, d] of this.#draining) {
      const e = byVs.get(d.vs) ?? { service: d.service, keys: [] };
      e.keys.push(k);
      byVs.set(d.vs, e);
    }
    const ops: IpvsOp[] = [];
    for (const { service, keys } of byVs.values()) {
      const dests = new Map(
        (await ipvs.listDestinations(service)).map((d) => [destinationKey(d), d]),
      );
      for (const k of keys) {
        const d = dests.get(k.slice(k.indexOf(" ") + 1));
        if (!d || d.weight > 0) {
          this.#draining.delete(k);
          continue;
        }
        if (d.activeConnections + d.inactiveConnections === 0) {
          ops.push({ op: "delete-destination", service, destination: d });
          this.#draining.delete(k);
        }
      }
    }
    if (ops.length > 0) await ipvs.apply(ops);
    return ops;
  }
}
