/**
 * The IPVS reconciler: every planned virtual server exists with its settings and real servers,
 * and no virtual server of the planned families is left that kipvs does not plan, except other
 * tools' (fwmark services, or inside `--ipvs-exclude-cidrs`). The per-server comparison is
 * {@link diffVirtualServer} (ipvs.ts); removed TCP real servers drain (graceful.ts); removed UDP
 * ones have their conntrack entries cleared.
 *
 * A full sync reads the services with one dump, then their real servers a chunk at a time (one
 * pipelined read each), diffed and applied as it goes: the table is never held whole in memory.
 * An incremental sync reads only the virtual servers the change touched. Virtual servers the
 * plan dropped are deleted by {@link IpvsReconciler.prune}, after the sets and rules that sent
 * traffic to them were updated.
 *
 * @module
 */

import type { Conntrack, StaleUdpFlow } from "../dataplane/conntrack/conntrack.ts";
import type { Ipvs, IpvsOp, ServiceKey, ServiceStatus } from "../dataplane/ipvs/types.ts";
import { isFwmarkKey } from "../dataplane/ipvs/types.ts";
import type { Logger } from "../log.ts";
import type { Family } from "../net/family.ts";
import { type CIDR, cidrContains, parseCIDR, parseIP } from "../net/ip.ts";
import { pace } from "../pace.ts";
import type { DesiredState } from "../plan/desired.ts";
import { GracefulTermination } from "./graceful.ts";
import {
  destinationKey,
  diffVirtualServer,
  type Draining,
  kernelServiceKey,
  parseServiceKey,
} from "./ipvs.ts";
import type { Reconciler, SyncScope, Write } from "./reconciler.ts";

/** IPVS operations applied at a time by a full sync: bounds the memory of a cold start. */
const APPLY_CHUNK = 4096;
/** Virtual servers whose real servers a full sync reads at a time (one pipelined read). */
const READ_CHUNK = 1024;

/** Options of {@link IpvsReconciler}. */
export interface IpvsReconcilerOptions {
  ipvs: Ipvs;
  conntrack: Conntrack;
  /** The planned families: virtual servers of other families are not kipvs's to prune. */
  families: readonly Family[];
  /** `--ipvs-exclude-cidrs`: virtual servers inside them are other tools'. */
  excludeCIDRs: readonly string[];
  logger: Logger;
}

/** What a sync's update found for its prune: virtual servers to delete, UDP flows to clear. */
interface Pending {
  deletes: IpvsOp[];
  udp: StaleUdpFlow[];
}

/** The IPVS work found so far in one pass. */
interface IpvsDiff extends Pending {
  ops: IpvsOp[];
  draining: Draining[];
}

/** Reconciles the IPVS table. */
export class IpvsReconciler implements Reconciler {
  readonly name = "ipvs";
  readonly phase = "ipvs" as const;
  #o: IpvsReconcilerOptions;
  #graceful = new GracefulTermination();
  #pending: Pending = { deletes: [], udp: [] };
  #exclude: CIDR[];
  /** The reason IPVS reads are not pipelined, once logged. */
  #unpipelined: string | undefined;

  constructor(options: IpvsReconcilerOptions) {
    this.#o = options;
    this.#exclude = options.excludeCIDRs.flatMap((c) => parseCIDR(c) ?? []);
  }

  /** Real servers draining. */
  get draining(): Draining[] {
    return this.#graceful.list();
  }

  /** How many real servers are draining (without listing them). */
  get drainingCount(): number {
    return this.#graceful.size;
  }

  /** Deletes draining real servers whose connections ended; how many. */
  async checkDraining(): Promise<number> {
    return (await this.#graceful.check(this.#o.ipvs)).length;
  }

  async update(scope: SyncScope): Promise<Write[] | undefined> {
    const writes: Write[] = [];
    this.#pending = { deletes: [], udp: [] };
    if (scope.changes) {
      if (scope.changes.virtualServers.size === 0) return undefined;
      await this.#updateTouched(scope, [...scope.changes.virtualServers], writes);
    } else {
      await this.#updateAll(scope, writes);
      this.#warnUnpipelined();
    }
    return writes;
  }

  async prune(scope: SyncScope): Promise<Write[]> {
    const { deletes, udp } = this.#pending;
    this.#pending = { deletes: [], udp: [] };
    const writes: Write[] = [];
    await this.#apply(deletes, scope, writes);
    await this.#o.conntrack.clearUdp(udp);
    return writes;
  }

  reset(): void {
    this.#pending = { deletes: [], udp: [] };
  }

  /** The virtual servers a change touched: each one's settings, then their real servers. */
  async #updateTouched(scope: SyncScope, touched: string[], writes: Write[]): Promise<void> {
    const have = new Map<string, ServiceStatus>();
    for (const k of touched) {
      const svc = await this.#o.ipvs.getService(parseServiceKey(k));
      if (svc) have.set(k, svc);
    }
    const diff = await this.#diff(scope.desired, touched, have, [...have.keys()], this.#empty());
    this.#graceful.track(touched, diff.draining);
    await this.#apply(diff.ops, scope, writes);
  }

  /** Every virtual server of the planned families, a chunk at a time. */
  async #updateAll(scope: SyncScope, writes: Write[]): Promise<void> {
    const { desired } = scope;
    const observed = new Map<string, ServiceStatus>();
    for (const s of await this.#o.ipvs.listServices({ counters: false })) {
      const k = kernelServiceKey(s.key);
      if (k && this.#o.families.includes(s.key.family)) observed.set(k, s);
    }
    const keys = [...new Set([...desired.virtualServers.keys(), ...observed.keys()])];
    const diff = this.#empty();
    for (let i = 0; i < keys.length; i += READ_CHUNK) {
      const chunk = keys.slice(i, i + READ_CHUNK)
        .filter((k) => desired.virtualServers.has(k) || !this.#excluded(k));
      // A service going away needs its real servers only for UDP conntrack cleanup.
      const toRead = chunk.filter((k) =>
        observed.has(k) &&
        (desired.virtualServers.has(k) || parseServiceKey(k).protocol === "UDP")
      );
      await this.#diff(desired, chunk, observed, toRead, diff);
      await pace();
      if (diff.ops.length >= APPLY_CHUNK) {
        await this.#apply(diff.ops, scope, writes);
        diff.ops = [];
      }
    }
    await this.#apply(diff.ops, scope, writes);
    this.#graceful.clear();
    this.#graceful.track(keys, diff.draining);
  }

  #empty(): IpvsDiff {
    return { ops: [], draining: [], ...this.#pending };
  }

  /**
   * Adds to `out` what takes the virtual servers `keys` from what the kernel holds (`observed`)
   * to the plan; the real servers of the `read` keys are read first, in one pipelined read.
   * Deletions of whole virtual servers go to the prune.
   */
  async #diff(
    desired: DesiredState,
    keys: readonly string[],
    observed: ReadonlyMap<string, ServiceStatus>,
    read: readonly string[],
    out: IpvsDiff,
  ): Promise<IpvsDiff> {
    const lists = await this.#o.ipvs.listDestinationsOf(
      read.map((k) => observed.get(k)!.key),
      { counters: false },
    );
    const dests = new Map(read.map((k, j) => [k, lists[j] ?? []]));
    for (const k of keys) {
      const have = observed.get(k);
      const entry = have && { ...have, destinations: dests.get(k) ?? [] };
      const want = desired.virtualServers.get(k);
      const d = diffVirtualServer(want, entry);
      for (const op of d.ops) (want ? out.ops : out.deletes).push(op);
      for (const x of d.draining) out.draining.push(x);
      for (const f of d.removedUdp) out.udp.push(f);
    }
    return out;
  }

  #excluded(vsKey: string): boolean {
    const ip = parseIP(parseServiceKey(vsKey).address);
    return ip !== undefined && this.#exclude.some((c) => cidrContains(c, ip));
  }

  async #apply(ops: IpvsOp[], scope: SyncScope, writes: Write[]): Promise<void> {
    if (ops.length === 0) return;
    const results = await this.#o.ipvs.apply(ops);
    scope.report.ipvsOps += ops.length;
    for (const res of results) {
      if (res.ok) {
        if (scope.record) writes.push(this.#write(res.op));
        continue;
      }
      scope.report.ipvsFailed++;
      scope.failures.push(res.error.message);
      this.#o.logger.warn("IPVS operation failed", { err: res.error, errno: res.errno });
    }
  }

  /** The object an applied op wrote. */
  #write(op: IpvsOp): Write {
    const action = op.op.startsWith("add")
      ? "add"
      : op.op.startsWith("update")
      ? "update"
      : "delete";
    if (op.op === "add-service" || op.op === "update-service") {
      return { kind: "ipvs", action, object: vsText(op.service.key) };
    }
    if (op.op === "delete-service") return { kind: "ipvs", action, object: vsText(op.key) };
    const vs = vsText(op.service);
    const rs = destinationKey(op.destination);
    // A drained real server deleted here follows from an earlier change of its service.
    const planned = op.op === "delete-destination" && this.#graceful.has(vs, rs);
    return { kind: "realserver", action, object: `${vs} ${rs}`, parent: vs, planned };
  }

  #warnUnpipelined(): void {
    const why = this.#o.ipvs.pipelineUnavailable;
    if (why === undefined || why === this.#unpipelined) return;
    // Works, but a full sync reads real servers one service per round trip: at 10,000
    // services seconds instead of a fraction of one. Said once (per reason), not per sync.
    this.#o.logger.warn("IPVS reads are not pipelined (io_uring unavailable)", { reason: why });
    this.#unpipelined = why;
  }
}

/** A virtual server as writes name it: its key ("TCP/10.96.0.10:80"), or "FWM/<mark>". */
function vsText(key: ServiceKey): string {
  return isFwmarkKey(key) ? `FWM/${key.fwmark}` : kernelServiceKey(key)!;
}
