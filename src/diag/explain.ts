/**
 * `kipvs explain`: where one packet to proto/ip:port goes on this node, traced through what the
 * kernel holds (the rules of `iptables-save`, the entries of `ipset save`, the IPVS table), in
 * the order the kernel's hooks see it:
 *
 * - from elsewhere (a pod, another host): nat PREROUTING, then (for a local address) filter
 *   INPUT, then IPVS at LOCAL_IN (after the filter, so filtering applies to IPVS);
 * - from the node itself: nat OUTPUT, then IPVS at LOCAL_OUT;
 * - once IPVS chose a real server: filter OUTPUT (IPVS sends the rewritten packet through it,
 *   where `-m ipvs` matches) and nat POSTROUTING (masquerade or not), per real server.
 *
 * A packet from the node without `--from` carries the service address as its source, as the
 * kernel picks it for an address on a local route. A virtual server whose real servers all have
 * weight 0 (or none) answers ICMP port unreachable: the client sees "connection refused".
 *
 * @module
 */

import { SVC_F } from "../dataplane/ipvs/constants.ts";
import { serviceKeyText } from "../dataplane/ipvs/describe.ts";
import type { DestinationStatus, ServiceEntry } from "../dataplane/ipvs/types.ts";
import { isFwmarkKey } from "../dataplane/ipvs/types.ts";
import type { Service } from "../k8s/types.ts";
import type { DesiredState, VirtualServerSpec } from "../plan/desired.ts";
import { virtualServerKey } from "../plan/desired.ts";
import type { MatchContext, TracePacket } from "./match.ts";
import { describeService, type ExplainService, serviceNotes } from "./explain_service.ts";
import type { SetLookup } from "./setmatch.ts";
import type { NodeSnapshot } from "./snapshot.ts";
import { type ExplainTarget, targetText } from "./target.ts";
import { type HookResult, walkHook } from "./walk.ts";

/** Where the packet ends. */
export type Outcome =
  | {
    kind: "balanced";
    realServers: number;
    /** How many of them get the packet masqueraded (they see the node's address). */
    masqueraded: number;
  }
  | { kind: "dropped"; hook: string; rule: string }
  | { kind: "rejected"; hook: string; rule: string }
  | { kind: "no-endpoints" }
  | { kind: "local" }
  | { kind: "not-local" };

/** One real server and what happens to the packet IPVS sends it. */
export interface RealServerPath {
  address: string;
  port: number;
  weight: number;
  /** Weight above 0: new connections can go there. */
  receives: boolean;
  /** The endpoint runs on this node; undefined without a source. */
  local?: boolean;
  /** The packet's source is this real server (a pod reaching itself through its service). */
  hairpin: boolean;
  /** filter OUTPUT's verdict on the rewritten packet. */
  filter: string;
  /** nat POSTROUTING masquerades it (the real server sees the node's address). */
  masquerade: boolean;
}

/** Everything `kipvs explain` says. */
export interface Explanation {
  target: string;
  source: string;
  /** "node": sent by the node itself; "remote": arrived from a pod or another host. */
  origin: "node" | "remote";
  service?: ExplainService;
  /** Facts worth saying before the trace (a planned virtual server missing, ...). */
  notes: string[];
  /** The hooks before IPVS, in order. */
  hooks: HookResult[];
  /** filter OUTPUT and nat POSTROUTING after IPVS, for the real server `shownFor`. */
  afterIpvs: HookResult[];
  /** Every ipset lookup the packet met, in order, once each. */
  lookups: SetLookup[];
  ipvs?: {
    virtualServer: string;
    scheduler: string;
    persistenceTimeout: number;
    realServers: RealServerPath[];
  };
  /** The real server whose filter OUTPUT and POSTROUTING are shown in `hooks`. */
  shownFor?: string;
  outcome: Outcome;
  /** The outcome if the service had no endpoints. */
  withoutEndpoints: Outcome;
}

/** Options of {@link explain}. */
export interface ExplainOptions {
  target: ExplainTarget;
  /** The source address; undefined: the node itself. */
  from?: string;
  snapshot: NodeSnapshot;
  desired?: DesiredState;
  /** The source's services, for policies ("namespace/name"). */
  services?: ReadonlyMap<string, Service>;
  /** The packet entered through a bridge port (physdev matches); default false. */
  bridged?: boolean;
}

const PROTO_NUMBER = { TCP: 6, UDP: 17, SCTP: 132 } as const;

function findEntry(snap: NodeSnapshot, t: ExplainTarget): ServiceEntry | undefined {
  return snap.ipvs.find((e) =>
    !isFwmarkKey(e.key) && e.key.protocol === t.protocol && e.key.address === t.address &&
    e.key.port === t.port
  );
}

function stopped(h: HookResult): Outcome | undefined {
  const rule = h.decidedBy?.rule ?? h.target;
  if (h.verdict === "DROP") return { kind: "dropped", hook: h.hook, rule };
  if (h.verdict === "REJECT") return { kind: "rejected", hook: h.hook, rule };
  return undefined;
}

/** Traces the packet. */
export function explain(o: ExplainOptions): Explanation {
  return new Trace(o).run();
}

/** One packet being traced: the hooks it met so far and the explanation being written. */
class Trace {
  readonly o: ExplainOptions;
  readonly t: ExplainTarget;
  readonly snap: NodeSnapshot;
  readonly src: string;
  readonly ctx: MatchContext;
  readonly spec: VirtualServerSpec | undefined;
  readonly entry: ServiceEntry | undefined;
  readonly out: Explanation;
  packet: TracePacket;

  constructor(o: ExplainOptions) {
    const t = o.target;
    const snap = o.snapshot;
    this.o = o;
    this.t = t;
    this.snap = snap;
    this.src = o.from ?? t.address;
    this.ctx = { local: snap.localAddresses, ipsets: snap.ipsets, bridged: o.bridged ?? false };
    this.packet = {
      family: t.family,
      protocol: t.protocol.toLowerCase() as TracePacket["protocol"],
      src: this.src,
      dst: t.address,
      dport: t.port,
      mark: 0,
      ctstate: new Set(["NEW"]),
    };
    this.spec = o.desired?.virtualServers.get(virtualServerKey(t));
    this.entry = findEntry(snap, t);
    const origin = o.from === undefined || snap.localAddresses.has(o.from) ? "node" : "remote";
    this.out = {
      target: targetText(t),
      source: this.src,
      origin,
      service: describeService({
        target: t,
        spec: this.spec,
        hasSource: o.desired !== undefined,
        ipsets: snap.ipsets,
        services: o.services,
      }),
      notes: serviceNotes({
        target: t,
        desired: o.desired,
        spec: this.spec,
        inKernel: this.entry !== undefined,
      }),
      hooks: [],
      afterIpvs: [],
      lookups: [],
      outcome: { kind: "local" },
      withoutEndpoints: { kind: "local" },
    };
  }

  run(): Explanation {
    const before = this.out.origin === "remote" ? this.fromElsewhere() : this.fromNode();
    if (before) return this.finish(before, false);
    if (!this.entry) return this.finish(this.noVirtualServer(), false);
    return this.finish(this.throughIpvs(this.entry), true);
  }

  walk(table: "nat" | "filter", chain: string, packet: TracePacket): HookResult {
    const tables = this.snap.iptables.get(this.t.family);
    return walkHook({ table: tables?.get(table), tableName: table, chain, packet, ctx: this.ctx });
  }

  /** Walks a hook before IPVS; the outcome when it stopped the packet. */
  hook(table: "nat" | "filter", chain: string): Outcome | undefined {
    const h = this.walk(table, chain, this.packet);
    this.out.hooks.push(h);
    this.packet = h.packet;
    return stopped(h);
  }

  /** nat PREROUTING, then filter INPUT for a local address. */
  fromElsewhere(): Outcome | undefined {
    const { t, entry } = this;
    const nat = this.hook("nat", "PREROUTING");
    if (nat) return nat;
    if (!this.snap.localAddresses.has(t.address)) {
      if (entry) {
        this.out.notes.push(
          `the kernel has virtual server ${serviceKeyText(entry.key)}, but ${t.address} is not ` +
            "an address of this node (missing from kube-ipvs0?): IPVS never sees the packet",
        );
      }
      return { kind: "not-local" };
    }
    return this.hook("filter", "INPUT");
  }

  fromNode(): Outcome | undefined {
    return this.hook("nat", "OUTPUT");
  }

  /** No virtual server: the packet goes to the node's own sockets, if it gets there. */
  noVirtualServer(): Outcome {
    if (this.out.origin === "node") {
      const f = this.hook("filter", "OUTPUT");
      if (f) return f;
      if (!this.snap.localAddresses.has(this.t.address)) return { kind: "not-local" };
      const input = this.hook("filter", "INPUT");
      if (input) return input;
    }
    return { kind: "local" };
  }

  /** IPVS picks a real server; filter OUTPUT and nat POSTROUTING see the rewritten packet. */
  throughIpvs(entry: ServiceEntry): Outcome {
    const out = this.out;
    const paths = entry.destinations.map((d) => this.realServerPath(d));
    out.ipvs = {
      virtualServer: serviceKeyText(entry.key),
      scheduler: entry.scheduler,
      persistenceTimeout: entry.flags & SVC_F.PERSISTENT ? entry.timeout : 0,
      realServers: paths.map((p) => p.path),
    };
    const receiving = paths.filter((p) => p.path.receives);
    if (receiving.length === 0) return { kind: "no-endpoints" };
    const shown = receiving.find((p) => p.path.hairpin) ?? receiving[0]!;
    out.shownFor = `${shown.path.address}:${shown.path.port}`;
    out.afterIpvs.push(...shown.hooks);
    const passing = receiving.filter((p) => p.path.filter === "ACCEPT");
    if (passing.length === 0) return stopped(shown.hooks[0]!) ?? { kind: "local" };
    const masqueraded = passing.filter((p) => p.path.masquerade).length;
    return { kind: "balanced", realServers: passing.length, masqueraded };
  }

  realServerPath(d: DestinationStatus): { path: RealServerPath; hooks: HookResult[] } {
    const { t, spec } = this;
    const filter = this.walk("filter", "OUTPUT", {
      ...this.packet,
      dst: d.address,
      dport: d.port,
      ctstate: new Set(["NEW", "DNAT"]),
      ipvs: { protocol: PROTO_NUMBER[t.protocol], address: t.address, port: t.port },
    });
    const post = filter.verdict === "ACCEPT"
      ? this.walk("nat", "POSTROUTING", filter.packet)
      : undefined;
    const rs = spec?.realServers.find((r) => r.address === d.address && r.port === d.port);
    return {
      path: {
        address: d.address,
        port: d.port,
        weight: d.weight,
        receives: d.weight > 0,
        ...(spec ? { local: rs?.local ?? false } : {}),
        hairpin: d.address === this.src,
        filter: filter.verdict,
        masquerade: post?.verdict === "NAT",
      },
      hooks: post ? [filter, post] : [filter],
    };
  }

  finish(outcome: Outcome, reachedIpvs: boolean): Explanation {
    const out = this.out;
    out.outcome = outcome;
    out.withoutEndpoints = reachedIpvs && this.entry ? { kind: "no-endpoints" } : outcome;
    const seen = new Set<string>();
    for (const h of [...out.hooks, ...out.afterIpvs]) {
      for (const s of h.steps) {
        for (const l of s.lookups) {
          const k = `${l.set} ${l.element}`;
          if (seen.has(k)) continue;
          seen.add(k);
          out.lookups.push(l);
        }
      }
    }
    return out;
  }
}
