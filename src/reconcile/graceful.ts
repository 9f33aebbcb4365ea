/**
 * Real servers that kipvs stopped wanting but that still carry connections: they sit at weight 0
 * until their active and inactive connections reach 0, then are deleted (kube-proxy's graceful
 * termination). A real server wanted again is taken off the list by the sync that restores its
 * weight.
 *
 * Under churn every endpoint moved leaves one real server draining until the next check, so the
 * list holds thousands at 50,000 services (500 changes a second, a check every 10 s). It is kept
 * by virtual server: a sync replaces the entries of the virtual servers it touched without
 * walking the others, and a check reads the real servers of every virtual server with some
 * draining in pipelined reads of {@link CHECK_CHUNK}, not one round trip each.
 *
 * @module
 */

import type { ServiceKey } from "../dataplane/ipvs/types.ts";
import type { Ipvs, IpvsOp } from "../dataplane/ipvs/types.ts";
import { destinationKey, type Draining } from "./ipvs.ts";

/** Virtual servers whose real servers one check reads at a time (one pipelined read). */
export const CHECK_CHUNK = 1024;

/** The draining real servers of one virtual server, by "address:port". */
interface VsDraining {
  service: ServiceKey;
  dests: Map<string, Draining>;
}

/** The draining real servers, by virtual server key, then by real server. */
export class GracefulTermination {
  #byVs = new Map<string, VsDraining>();
  #size = 0;

  /** Replaces what one sync found draining for the given virtual servers. */
  track(vsKeys: Iterable<string>, draining: readonly Draining[]): void {
    for (const vs of vsKeys) this.#forget(vs);
    for (const d of draining) {
      let e = this.#byVs.get(d.vs);
      if (!e) this.#byVs.set(d.vs, e = { service: d.service, dests: new Map() });
      const k = destinationKey(d.destination);
      if (!e.dests.has(k)) this.#size++;
      e.dests.set(k, d);
    }
  }

  /** Forgets everything (a full sync re-reads the kernel and tracks again). */
  clear(): void {
    this.#byVs.clear();
    this.#size = 0;
  }

  /** Whether real server `dest` ("10.244.1.2:8080") of virtual server `vs` is draining. */
  has(vs: string, dest: string): boolean {
    return this.#byVs.get(vs)?.dests.has(dest) ?? false;
  }

  /** How many real servers are draining. */
  get size(): number {
    return this.#size;
  }

  /** The draining real servers. */
  list(): Draining[] {
    const out: Draining[] = [];
    for (const e of this.#byVs.values()) for (const d of e.dests.values()) out.push(d);
    return out;
  }

  /**
   * Reads the connection counts of every draining real server and deletes those at 0, or gone,
   * or wanted again (weight > 0). Returns the delete operations that were applied.
   */
  async check(ipvs: Ipvs): Promise<IpvsOp[]> {
    const vss = [...this.#byVs.keys()];
    const ops: IpvsOp[] = [];
    for (let i = 0; i < vss.length; i += CHECK_CHUNK) {
      const chunk = vss.slice(i, i + CHECK_CHUNK);
      const lists = await ipvs.listDestinationsOf(chunk.map((vs) => this.#byVs.get(vs)!.service));
      chunk.forEach((vs, j) => this.#checkOne(vs, lists[j] ?? [], ops));
    }
    if (ops.length > 0) await ipvs.apply(ops);
    return ops;
  }

  /** Takes the real servers of `vs` the kernel holds: what is done draining goes (to `ops`). */
  #checkOne(vs: string, have: readonly Draining["destination"][], ops: IpvsOp[]): void {
    const e = this.#byVs.get(vs);
    if (!e) return;
    const dests = new Map(have.map((d) => [destinationKey(d), d]));
    for (const k of [...e.dests.keys()]) {
      const d = dests.get(k);
      if (d && d.weight === 0 && d.activeConnections + d.inactiveConnections > 0) continue;
      if (d && d.weight === 0) {
        ops.push({ op: "delete-destination", service: e.service, destination: d });
      }
      e.dests.delete(k);
      this.#size--;
    }
    if (e.dests.size === 0) this.#byVs.delete(vs);
  }

  #forget(vs: string): void {
    const e = this.#byVs.get(vs);
    if (!e) return;
    this.#size -= e.dests.size;
    this.#byVs.delete(vs);
  }
}
