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
import type { ServiceEntry } from "../dataplane/ipvs/types.ts";
import { isFwmarkKey } from "../dataplane/ipvs/types.ts";
import type { Service } from "../k8s/types.ts";
import type { DesiredState } from "../plan/desired.ts";
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
  const t = o.target;
  const snap = o.snapshot;
  const origin = o.from === undefined || snap.localAddresses.has(o.from) ? "node" : "remote";
  const src = o.from ?? t.address;
  const ctx: MatchContext = {
    local: snap.localAddresses,
    ipsets: snap.ipsets,
    bridged: o.bridged ?? false,
  };
  const tables = snap.iptables.get(t.family);
  const walk = (table: "nat" | "filter", chain: string, packet: TracePacket) =>
    walkHook({ table: tables?.get(table), tableName: table, chain, packet, ctx });
  let packet: TracePacket = {
    family: t.family,
    protocol: t.protocol.toLowerCase() as TracePacket["protocol"],
    src,
    dst: t.address,
    dport: t.port,
    mark: 0,
    ctstate: new Set(["NEW"]),
  };

  const spec = o.desired?.virtualServers.get(virtualServerKey(t));
  const entry = findEntry(snap, t);
  const notes = serviceNotes({
    target: t,
    desired: o.desired,
    spec,
    inKernel: entry !== undefined,
  });

  const out: Explanation = {
    target: targetText(t),
    source: src,
    origin,
    service: describeService({
      target: t,
      spec,
      hasSource: o.desired !== undefined,
      ipsets: snap.ipsets,
      services: o.services,
    }),
    notes,
    hooks: [],
    afterIpvs: [],
    lookups: [],
    outcome: { kind: "local" },
    withoutEndpoints: { kind: "local" },
  };
  const finish = (outcome: Outcome, reachedIpvs: boolean): Explanation => {
    out.outcome = outcome;
    out.withoutEndpoints = reachedIpvs && entry ? { kind: "no-endpoints" } : outcome;
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
  };
  const hook = (h: HookResult) => {
    out.hooks.push(h);
    packet = h.packet;
    return stopped(h);
  };

  // Before IPVS.
  if (origin === "remote") {
    const nat = hook(walk("nat", "PREROUTING", packet));
    if (nat) return finish(nat, false);
    if (!snap.localAddresses.has(t.address)) {
      if (entry) {
        notes.push(
          `the kernel has virtual server ${serviceKeyText(entry.key)}, but ${t.address} is not ` +
            "an address of this node (missing from kube-ipvs0?): IPVS never sees the packet",
        );
      }
      return finish({ kind: "not-local" }, false);
    }
    const input = hook(walk("filter", "INPUT", packet));
    if (input) return finish(input, false);
  } else {
    const nat = hook(walk("nat", "OUTPUT", packet));
    if (nat) return finish(nat, false);
  }

  // IPVS.
  if (!entry) {
    if (origin === "node") {
      const f = hook(walk("filter", "OUTPUT", packet));
      if (f) return finish(f, false);
      if (!snap.localAddresses.has(t.address)) return finish({ kind: "not-local" }, false);
      const input = hook(walk("filter", "INPUT", packet));
      if (input) return finish(input, false);
    }
    return finish({ kind: "local" }, false);
  }
  const local = new Map((spec?.realServers ?? []).map((r) => [`${r.address}|${r.port}`, r.local]));
  const rewritten = (d: { address: string; port: number }): TracePacket => ({
    ...packet,
    dst: d.address,
    dport: d.port,
    ctstate: new Set(["NEW", "DNAT"]),
    ipvs: { protocol: PROTO_NUMBER[t.protocol], address: t.address, port: t.port },
  });
  const paths: { path: RealServerPath; hooks: HookResult[] }[] = entry.destinations.map((d) => {
    const filter = walk("filter", "OUTPUT", rewritten(d));
    const post = filter.verdict === "ACCEPT"
      ? walk("nat", "POSTROUTING", filter.packet)
      : undefined;
    const l = local.get(`${d.address}|${d.port}`);
    return {
      path: {
        address: d.address,
        port: d.port,
        weight: d.weight,
        receives: d.weight > 0,
        ...(spec ? { local: l ?? false } : {}),
        hairpin: d.address === src,
        filter: filter.verdict,
        masquerade: post?.verdict === "NAT",
      },
      hooks: post ? [filter, post] : [filter],
    };
  });
  out.ipvs = {
    virtualServer: serviceKeyText(entry.key),
    scheduler: entry.scheduler,
    persistenceTimeout: entry.flags & SVC_F.PERSISTENT ? entry.timeout : 0,
    realServers: paths.map((p) => p.path),
  };
  const receiving = paths.filter((p) => p.path.receives);
  if (receiving.length === 0) return finish({ kind: "no-endpoints" }, true);
  const shown = receiving.find((p) => p.path.hairpin) ?? receiving[0]!;
  out.shownFor = `${shown.path.address}:${shown.path.port}`;
  out.afterIpvs.push(...shown.hooks);
  const passing = receiving.filter((p) => p.path.filter === "ACCEPT");
  if (passing.length === 0) return finish(stopped(shown.hooks[0]!) ?? { kind: "local" }, true);
  const masqueraded = passing.filter((p) => p.path.masquerade).length;
  return finish({ kind: "balanced", realServers: passing.length, masqueraded }, true);
}
