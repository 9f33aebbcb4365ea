/**
 * One sync of the node's dataplane: plan, compare with the kernel, apply the differences.
 *
 * A full sync plans every service and reads everything back from the kernel (IPVS table,
 * kube-ipvs0 addresses, ipsets, iptables), so it adopts what it finds and repairs drift. An
 * incremental sync replans only the services that changed, reads back only their virtual servers,
 * and writes ipsets and iptables only when an entry or a rule changed: its work is in proportion
 * to the change. Writes go in an order that never leaves traffic worse than before: addresses and
 * virtual servers are added before the sets and rules that send traffic to them, and removals
 * come last.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import { pace } from "../pace.ts";
import type { Conntrack, StaleUdpFlow } from "../dataplane/conntrack.ts";
import type { Ipset } from "../dataplane/ipset/ipset.ts";
import { planIpsetDelta } from "./ipset_delta.ts";
import { planIpsetRestore } from "./ipset_restore.ts";
import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import type { Iptables } from "../dataplane/iptables/iptables.ts";
import { planRules } from "../plan/rules.ts";
import { renderIptables, rulesPayload } from "../dataplane/iptables/render.ts";
import { syncIptables, syncSetsAndRules } from "./iptables.ts";
import type { Ipvs, IpvsOp, ServiceStatus } from "../dataplane/ipvs/types.ts";
import type { DummyLink } from "../dataplane/link/types.ts";
import type { Logger } from "../log.ts";
import type { ClusterState } from "../source/source.ts";
import type { Family } from "../net/family.ts";
import type { NodeInfo, ProxyConfig } from "../config/config.ts";
import type { DesiredState, IpsetEntry } from "../plan/desired.ts";
import { GracefulTermination } from "./graceful.ts";
import { ConflictReporter } from "./conflicts.ts";
import { diffVirtualServer, type Draining, kernelServiceKey, parseServiceKey } from "./ipvs.ts";
import { PlanMerge } from "../plan/merge.ts";
import { planService, sliceLookup } from "../plan/plan.ts";
import { emptyReport, PhaseClock, type SyncReport } from "./report.ts";

export type { SyncPhase, SyncReport } from "./report.ts";
import { type CIDR, cidrContains, parseCIDR, parseIP } from "../net/ip.ts";

/** The kernel facilities one sync drives. */
export interface Dataplane {
  ipvs: Ipvs;
  link: DummyLink;
  ipset: Ipset;
  iptables: Iptables;
  conntrack: Conntrack;
  /** Programs started so far by the backends above, when they are counted (see CountingExec). */
  programs?: () => number;
}

/** IPVS operations applied at a time by a full sync: bounds the memory of a cold start. */
const APPLY_CHUNK = 4096;
/** Virtual servers whose real servers a full sync reads at a time (one pipelined read). */
const READ_CHUNK = 1024;
/** Services planned between two looks at the time (see pace.ts): ~10 ms of work in a small VM. */
const PACE_EVERY = 16;

/** What decides a sync. */
export interface SyncInput {
  state: ClusterState;
  node: NodeInfo;
  /** Services to replan; ignored by a full sync. */
  services: ReadonlySet<string>;
  full: boolean;
}

/** Options of {@link Proxier}. */
export interface ProxierOptions {
  config: ProxyConfig;
  dataplane: Dataplane;
  logger: Logger;
}

/** IPVS work a sync has found so far: operations to apply, real servers to drain, UDP flows. */
interface IpvsDiff {
  ops: IpvsOp[];
  draining: Draining[];
  udp: StaleUdpFlow[];
}

function emptyIpvsDiff(): IpvsDiff {
  return { ops: [], draining: [], udp: [] };
}

/** Keeps the dataplane in step with the plan. Not reentrant: the sync runner serialises calls. */
export class Proxier {
  #o: ProxierOptions;
  #merge: PlanMerge | undefined;
  #node: string | undefined;
  #ipsetSnapshot: IpsetSnapshot | undefined;
  /** The rules last written (or found equal), per family: the incremental path's reference. */
  #rules = new Map<Family, string>();
  #graceful = new GracefulTermination();
  #conflicts = new ConflictReporter();
  /** The reason IPVS reads are not pipelined, once logged. */
  #unpipelined: string | undefined;

  constructor(options: ProxierOptions) {
    this.#o = options;
  }

  /** Virtual servers (a node port counting once) that more than one Service wants. */
  get conflicts(): number {
    return this.#conflicts.count;
  }

  /** The desired state after the last sync (undefined before the first). */
  get desired(): DesiredState | undefined {
    return this.#merge?.state;
  }

  /** Real servers draining. */
  get draining(): Draining[] {
    return this.#graceful.list();
  }

  #lock: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every kernel job queued before it: syncs and drain checks never overlap. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  /** Runs one sync; throws a `sync` KipvsError when some writes failed (after doing the rest). */
  sync(input: SyncInput): Promise<SyncReport> {
    return this.#serial(() => this.#sync(input));
  }

  async #sync(input: SyncInput): Promise<SyncReport> {
    const started = performance.now();
    const nodeKey = JSON.stringify(input.node);
    const full = input.full || !this.#merge || nodeKey !== this.#node;
    const before = this.#messages();
    const programs = this.#o.dataplane.programs?.() ?? 0;
    const r = emptyReport(full);
    const failures: string[] = [];
    try {
      if (full) await this.#full(input, r, failures);
      else await this.#incremental(input, r, failures);
    } catch (err) {
      // What the kernel holds is unknown now: the retry is a full sync that reads it all.
      this.#ipsetSnapshot = undefined;
      this.#rules.clear();
      throw err;
    } finally {
      this.#node = full ? nodeKey : this.#node;
      r.netlinkMessages = this.#messages() - before;
      r.processes = (this.#o.dataplane.programs?.() ?? 0) - programs;
      r.draining = this.#graceful.size;
      r.writes = r.ipvsOps + r.addressesAdded + r.addressesRemoved + r.ipsetRestores +
        r.iptablesRestores;
      r.ms = performance.now() - started;
    }
    if (failures.length > 0) {
      throw new KipvsError("sync", `${failures.length} write(s) failed: ${failures.join("; ")}`, {
        details: { failures: failures.length },
      });
    }
    return r;
  }

  /** Deletes draining real servers whose connections ended. */
  checkDraining(): Promise<number> {
    return this.#serial(async () => (await this.#graceful.check(this.#o.dataplane.ipvs)).length);
  }

  #messages(): number {
    const dp = this.#o.dataplane;
    return dp.ipvs.messagesSent + dp.link.messagesSent + (dp.ipset.messagesSent ?? 0);
  }

  /**
   * Replans the services `keys`. The event loop runs every slice meanwhile (a full plan of
   * 10,000 services takes seconds in a small VM): changes the source sees then wait for the next
   * sync, which replans what they touched.
   */
  async #plan(
    input: SyncInput,
    merge: PlanMerge,
    keys: Iterable<string>,
  ): Promise<PlanDeltaSummary> {
    const { config } = this.#o;
    const slices = sliceLookup(input.state);
    const ctx = { config, node: input.node };
    const sum = emptySummary();
    let n = 0;
    for (const key of keys) {
      if (++n % PACE_EVERY === 0) await pace();
      const svc = input.state.services.get(key);
      const d = merge.set(key, svc ? planService(svc, slices(key), ctx) : undefined);
      for (const k of d.virtualServers) sum.virtualServers.add(k);
      for (const a of d.addressesAdded) sum.addressesAdded.add(a);
      for (const a of d.addressesRemoved) sum.addressesRemoved.add(a);
      sum.entries.push(...d.entriesAdded, ...d.entriesRemoved);
    }
    return sum;
  }

  async #full(input: SyncInput, r: SyncReport, failures: string[]): Promise<void> {
    const { config, dataplane: dp } = this.#o;
    // The previous plan is replaced whole: let it go first, so that two plans of every service
    // never sit in memory together (a failure before the end leaves none: the retry is full).
    this.#merge = undefined;
    const clock = new PhaseClock(r.phases);
    const merge = new PlanMerge({ families: config.families });
    await this.#plan(input, merge, input.state.services.keys());
    r.services = merge.size;
    const desired = merge.state;
    this.#conflicts.report(desired, this.#o.logger);
    clock.lap("plan");
    await dp.link.ensure();
    const bound = new Set(await dp.link.listAddresses());
    const add = [...desired.addresses].filter((a) => !bound.has(a));
    // Like kube-proxy: every address kipvs does not want goes; --ipvs-exclude-cidrs protects
    // virtual servers only.
    const del = [...bound].filter((a) => !desired.addresses.has(a));
    await this.#addAddresses(add, r, failures);
    clock.lap("addresses");

    // IPVS: every virtual server of the planned families, except other tools' (fwmark, or
    // inside --ipvs-exclude-cidrs). One dump of the services, then their real servers a chunk
    // at a time (one pipelined read each), diffed and applied as it goes: the table is never
    // held whole in memory.
    const observed = new Map<string, ServiceStatus>();
    for (const s of await dp.ipvs.listServices({ counters: false })) {
      const k = kernelServiceKey(s.key);
      if (k && config.families.includes(s.key.family)) observed.set(k, s);
    }
    const keys = [...new Set([...desired.virtualServers.keys(), ...observed.keys()])];
    const diff = emptyIpvsDiff();
    for (let i = 0; i < keys.length; i += READ_CHUNK) {
      const chunk = keys.slice(i, i + READ_CHUNK)
        .filter((k) => desired.virtualServers.has(k) || !this.#excluded(k));
      // A service going away needs its real servers only for UDP conntrack cleanup.
      const toRead = chunk.filter((k) =>
        observed.has(k) &&
        (desired.virtualServers.has(k) || parseServiceKey(k).protocol === "UDP")
      );
      await this.#diffIpvs(desired, chunk, observed, toRead, diff);
      await pace();
      if (diff.ops.length >= APPLY_CHUNK) {
        await this.#applyIpvs(diff.ops, r, failures);
        diff.ops = [];
      }
    }
    await this.#applyIpvs(diff.ops, r, failures);
    const { draining, udp } = diff;
    this.#graceful.clear();
    this.#graceful.track(keys, draining);
    clock.lap("ipvs");

    const rules = await syncSetsAndRules({
      ipset: dp.ipset,
      iptables: dp.iptables,
      desired,
      config,
    });
    this.#ipsetSnapshot = rules.ipsetSnapshot;
    r.ipsetRestores = rules.ipset.restored ? 1 : 0;
    r.ipsetEntries = rules.ipset.added + rules.ipset.deleted;
    r.iptablesRestores = rules.writes - r.ipsetRestores;
    for (const f of config.families) this.#rules.set(f, await this.#renderRules(desired, f));
    clock.lap("sets");
    await this.#deleteAddresses(del, r, failures);
    await dp.conntrack.clearUdp(udp);
    this.#merge = merge;
    clock.lap("rest");
    const why = dp.ipvs.pipelineUnavailable;
    if (why !== undefined && why !== this.#unpipelined) {
      // Works, but a full sync reads real servers one service per round trip: at 10,000
      // services seconds instead of a fraction of one. Said once (per reason), not per sync.
      this.#o.logger.warn("IPVS reads are not pipelined (io_uring unavailable)", { reason: why });
      this.#unpipelined = why;
    }
  }

  async #incremental(input: SyncInput, r: SyncReport, failures: string[]): Promise<void> {
    const dp = this.#o.dataplane;
    const clock = new PhaseClock(r.phases);
    const merge = this.#merge as PlanMerge;
    const sum = await this.#plan(input, merge, input.services);
    r.services = input.services.size;
    const desired = merge.state;
    this.#conflicts.report(desired, this.#o.logger);
    clock.lap("plan");

    // Only the virtual servers the change touched: each one's settings, then all their real
    // servers in one pipelined read.
    const touched = [...sum.virtualServers];
    const have = new Map<string, ServiceStatus>();
    for (const k of touched) {
      const svc = await dp.ipvs.getService(parseServiceKey(k));
      if (svc) have.set(k, svc);
    }
    const { ops, draining, udp } = await this.#diffIpvs(
      desired,
      touched,
      have,
      [...have.keys()],
      emptyIpvsDiff(),
    );
    this.#graceful.track(sum.virtualServers, draining);

    await this.#addAddresses([...sum.addressesAdded], r, failures);
    await this.#applyIpvs(ops, r, failures);
    clock.lap("ipvs");
    if (sum.entries.length > 0) {
      await this.#syncEntries(desired, sum.entries, r);
      clock.lap("sets");
    }
    await this.#deleteAddresses([...sum.addressesRemoved], r, failures);
    await dp.conntrack.clearUdp(udp);
    clock.lap("rest");
  }

  /**
   * Adds to `out` what takes the virtual servers `keys` from what the kernel holds (`observed`)
   * to the plan; the real servers of the `read` keys are read first, in one pipelined read.
   */
  async #diffIpvs(
    desired: DesiredState,
    keys: readonly string[],
    observed: ReadonlyMap<string, ServiceStatus>,
    read: readonly string[],
    out: IpvsDiff,
  ): Promise<IpvsDiff> {
    const lists = await this.#o.dataplane.ipvs.listDestinationsOf(
      read.map((k) => observed.get(k)!.key),
      { counters: false },
    );
    const dests = new Map(read.map((k, j) => [k, lists[j] ?? []]));
    for (const k of keys) {
      const have = observed.get(k);
      const entry = have && { ...have, destinations: dests.get(k) ?? [] };
      const d = diffVirtualServer(desired.virtualServers.get(k), entry);
      for (const op of d.ops) out.ops.push(op);
      for (const x of d.draining) out.draining.push(x);
      for (const f of d.removedUdp) out.udp.push(f);
    }
    return out;
  }

  /**
   * The incremental path's ipsets and rules: only the touched entries are compared with the
   * sets as the last sync left them (a full plan when that is unknown), and the rules, which
   * depend on which sets are empty, are rewritten only when their text changed.
   */
  async #syncEntries(desired: DesiredState, touched: IpsetEntry[], r: SyncReport): Promise<void> {
    const { config, dataplane: dp } = this.#o;
    const current = this.#ipsetSnapshot;
    const delta = current && planIpsetDelta({ desired: desired.ipsets, touched, current });
    if (delta) {
      if (delta.ops.length > 0) await dp.ipset.apply(delta.ops);
      delta.commit();
      r.ipsetRestores = delta.ops.length === 0 ? 0 : 1;
      r.ipsetEntries = delta.added + delta.deleted;
    } else {
      const plan = planIpsetRestore({
        desired: desired.ipsets,
        families: config.families,
        current: current ?? await dp.ipset.save(),
      });
      if (plan.ops.length > 0) await dp.ipset.apply(plan.ops);
      this.#ipsetSnapshot = plan.after;
      r.ipsetRestores = plan.ops.length === 0 ? 0 : 1;
      r.ipsetEntries = plan.added + plan.deleted;
    }
    for (const family of config.families) {
      const rules = renderIptables(planRules({
        family,
        config,
        ipsets: desired.ipsets,
        randomFully: await this.#randomFully(),
      }));
      const text = rulesPayload(rules);
      if (text === this.#rules.get(family)) continue;
      const res = await syncIptables(dp.iptables, rules);
      if (res.restored) r.iptablesRestores++;
      this.#rules.set(family, text);
    }
  }

  #randomFullyCache: boolean | undefined;
  async #randomFully(): Promise<boolean> {
    return this.#randomFullyCache ??= await this.#o.dataplane.iptables.hasRandomFully();
  }

  async #renderRules(desired: DesiredState, family: Family): Promise<string> {
    const { config } = this.#o;
    return rulesPayload(
      renderIptables(planRules({
        family,
        config,
        ipsets: desired.ipsets,
        randomFully: await this.#randomFully(),
      })),
    );
  }

  #excluded(vsKey: string): boolean {
    return this.#excludedIp(parseServiceKey(vsKey).address);
  }

  #exclude: CIDR[] | undefined;
  #excludedIp(address: string): boolean {
    const cidrs = this.#exclude ??= this.#o.config.excludeCIDRs.flatMap((c) => parseCIDR(c) ?? []);
    const ip = parseIP(address);
    return ip !== undefined && cidrs.some((c) => cidrContains(c, ip));
  }

  async #applyIpvs(ops: IpvsOp[], r: SyncReport, failures: string[]): Promise<void> {
    if (ops.length === 0) return;
    const results = await this.#o.dataplane.ipvs.apply(ops);
    r.ipvsOps += ops.length;
    for (const res of results) {
      if (res.ok) continue;
      r.ipvsFailed++;
      failures.push(res.error.message);
      this.#o.logger.warn("IPVS operation failed", { err: res.error, errno: res.errno });
    }
  }

  async #addAddresses(addrs: string[], r: SyncReport, failures: string[]): Promise<void> {
    if (addrs.length === 0) return;
    await this.#o.dataplane.link.ensure();
    for (const res of await this.#o.dataplane.link.addAddresses(addrs)) {
      if (res.ok) r.addressesAdded++;
      else if (res.errno !== 17) failures.push(res.error.message); // EEXIST: already bound
    }
  }

  async #deleteAddresses(addrs: string[], r: SyncReport, failures: string[]): Promise<void> {
    if (addrs.length === 0) return;
    for (const res of await this.#o.dataplane.link.deleteAddresses(addrs)) {
      if (res.ok) r.addressesRemoved++;
      else if (res.errno !== 99) failures.push(res.error.message); // EADDRNOTAVAIL: not bound
    }
  }
}

interface PlanDeltaSummary {
  virtualServers: Set<string>;
  addressesAdded: Set<string>;
  addressesRemoved: Set<string>;
  /** ipset entries that appeared or disappeared (possibly both, over several services). */
  entries: IpsetEntry[];
}

function emptySummary(): PlanDeltaSummary {
  return {
    virtualServers: new Set(),
    addressesAdded: new Set(),
    addressesRemoved: new Set(),
    entries: [],
  };
}
