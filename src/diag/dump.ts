/**
 * `kipvs dump` as data: the IPVS table grouped by namespace/service:port, kube-ipvs0, the
 * ipsets, kipvs's chains and the sysctl verdicts, all from one {@link NodeSnapshot}, filtered by
 * namespace, service or address. Rendering lives in `dump_text.ts`.
 *
 * @module
 */

import type { DriftStatus } from "../observe/proxyhealth.ts";
import { KipvsError } from "../errors.ts";
import { SVC_F } from "../dataplane/ipvs/constants.ts";
import { serviceKeyText } from "../dataplane/ipvs/describe.ts";
import type { DestinationStatus, ServiceEntry } from "../dataplane/ipvs/types.ts";
import { isFwmarkKey } from "../dataplane/ipvs/types.ts";
import type { SysctlVerdict } from "../dataplane/sysctl/reconcile.ts";
import { canonicalIP } from "../net/ip.ts";
import type { Family } from "../net/family.ts";
import type { DesiredState, ServicePortRef } from "../plan/desired.ts";
import { compareAddresses } from "../plan/nodeports.ts";
import {
  type DumpAddress,
  dumpAddresses,
  type DumpChain,
  dumpChains,
  dumpNft,
  type DumpNftChain,
  type DumpNftSet,
  type DumpSet,
  dumpSets,
} from "./dump_node.ts";
import { attribute, type Kind, type Owner, UNOWNED } from "./owners.ts";
import type { NodeSnapshot, SnapshotError } from "./snapshot.ts";

/** A real server as dumped. */
export interface DumpRealServer {
  address: string;
  port: number;
  weight: number;
  activeConnections: number;
  inactiveConnections: number;
  /** Weight 0: kipvs (like kube-proxy) stopped wanting it and lets its connections finish. */
  draining: boolean;
  /** The endpoint runs on this node; undefined without a source. */
  local?: boolean;
}

/** A virtual server as dumped. */
export interface DumpVirtualServer {
  /** "TCP/10.96.0.10:80", "FWM/4660". */
  key: string;
  family: Family;
  /** Protocol, address and port; absent for firewall-mark virtual servers. */
  protocol?: string;
  address?: string;
  port?: number;
  kind: Kind;
  scheduler: string;
  /** Flag names: "persistent", "one-packet", "sh-fallback", "sh-port", ... */
  flags: string[];
  /** ClientIP affinity: persistence timeout in seconds (0 without). */
  persistenceTimeout: number;
  realServers: DumpRealServer[];
}

/** The virtual servers of one service port (or of one unowned group). */
export interface DumpGroup {
  /** "default/web:http", "(not in plan)", or a cluster IP's key without a source. */
  name: string;
  service?: ServicePortRef;
  virtualServers: DumpVirtualServer[];
}

export type { DumpAddress, DumpChain, DumpSet };

/** Everything `kipvs dump` shows. */
export interface DumpReport {
  /** Where service names came from. */
  source: "plan" | "kernel";
  groups: DumpGroup[];
  link: { exists: boolean; up: boolean };
  addresses: DumpAddress[];
  ipsets: DumpSet[];
  chains: DumpChain[];
  /** kipvs's nftables sets and chains, when the node uses the nftables rules backend. */
  nft: { sets: DumpNftSet[]; chains: DumpNftChain[] };
  sysctls: SysctlVerdict[];
  errors: SnapshotError[];
  /** What the running `kipvs run` says of drift (absent when it was not asked). */
  agent?: AgentView;
}

/** What `kipvs run` on this node answered on its healthz port. */
export interface AgentView {
  /** Where it was asked ("127.0.0.1:10256"). */
  address: string;
  /** Why it did not answer (not running, another port, ...). */
  error?: string;
  /** Drift repaired since it started, and the last drift; absent when there was none. */
  drift?: DriftStatus;
}

/** Filters of `kipvs dump`. */
export interface DumpFilter {
  namespace?: string;
  /** A service name, or "namespace/name". */
  service?: string;
  /** A virtual server or real server address. */
  address?: string;
}

/** Options of {@link buildDump}. */
export interface DumpOptions {
  snapshot: NodeSnapshot;
  /** The plan, when a source was given: names, kinds and local flags come from it. */
  desired?: DesiredState;
  filter?: DumpFilter;
  /** Whether an address is inside --ipvs-exclude-cidrs. */
  excluded?: (address: string) => boolean;
  /** What `kipvs run` answered, when it was asked. */
  agent?: AgentView;
}

const FLAG_NAMES: [number, string, string][] = [
  [SVC_F.PERSISTENT, "persistent", "persistent"],
  [SVC_F.ONEPACKET, "one-packet", "one-packet"],
  [SVC_F.SCHED1, "flag-1", "fallback"],
  [SVC_F.SCHED2, "flag-2", "port"],
  [SVC_F.SCHED3, "flag-3", "flag-3"],
];

/** The names of a virtual server's flags ("sh-port" for the sh and mh schedulers' bits). */
export function flagNames(flags: number, scheduler: string): string[] {
  const hashing = scheduler === "sh" || scheduler === "mh";
  return FLAG_NAMES.filter(([bit]) => flags & bit).map(([, plain, sched]) =>
    hashing && plain.startsWith("flag-") && sched !== "flag-3" ? `${scheduler}-${sched}` : plain
  );
}

/** Checks the filters; throws `usage` naming the flag and value. */
export function checkFilter(filter: DumpFilter, hasSource: boolean): DumpFilter {
  const out: DumpFilter = { ...filter };
  if (!hasSource && (filter.namespace !== undefined || filter.service !== undefined)) {
    throw new KipvsError(
      "usage",
      `--${filter.namespace !== undefined ? "namespace" : "service"} needs service names: ` +
        "give a source (--manifests or --kubeconfig)",
    );
  }
  if (filter.address !== undefined) {
    const ip = canonicalIP(filter.address);
    if (!ip) throw new KipvsError("usage", `--address: "${filter.address}" is not an IP address`);
    out.address = ip;
  }
  return out;
}

function realServer(
  d: DestinationStatus,
  owner: Owner | undefined,
  local: ReadonlySet<string>,
): DumpRealServer {
  return {
    address: d.address,
    port: d.port,
    weight: d.weight,
    activeConnections: d.activeConnections,
    inactiveConnections: d.inactiveConnections,
    draining: d.weight === 0,
    ...(owner?.desired ? { local: local.has(`${d.address}|${d.port}`) } : {}),
  };
}

function virtualServer(e: ServiceEntry, owner: Owner | undefined): DumpVirtualServer {
  const local = new Set(
    (owner?.desired?.realServers ?? []).filter((r) => r.local).map((r) => `${r.address}|${r.port}`),
  );
  return {
    key: serviceKeyText(e.key),
    family: e.key.family,
    ...(isFwmarkKey(e.key)
      ? {}
      : { protocol: e.key.protocol, address: e.key.address, port: e.key.port }),
    kind: owner?.kind ?? "unknown",
    scheduler: e.scheduler,
    flags: flagNames(e.flags, e.scheduler),
    persistenceTimeout: e.flags & SVC_F.PERSISTENT ? e.timeout : 0,
    realServers: e.destinations.map((d) => realServer(d, owner, local))
      .sort((a, b) => compareAddresses(a.address, b.address) || a.port - b.port),
  };
}

/** Whether a group of virtual servers passes the `-n` and `--service` filters. */
export function serviceMatches(g: { service?: ServicePortRef }, f: DumpFilter): boolean {
  if (f.namespace !== undefined && g.service?.namespace !== f.namespace) return false;
  if (f.service !== undefined) {
    const s = g.service;
    if (!s) return false;
    const want = f.service.includes("/") ? f.service : `${s.namespace}/${f.service}`;
    if (`${s.namespace}/${s.name}` !== want) return false;
  }
  return true;
}

function vsMatches(vs: DumpVirtualServer, address: string | undefined): boolean {
  if (address === undefined) return true;
  return vs.address === address || vs.realServers.some((r) => r.address === address);
}

// Unowned groups last, in this order.
const GROUP_ORDER: string[] = [UNOWNED.notPlanned, UNOWNED.excluded, UNOWNED.fwmark];

/** Builds the dump from a snapshot. */
export function buildDump(options: DumpOptions): DumpReport {
  const { snapshot: snap, desired } = options;
  const filter = options.filter ?? {};
  const owners = attribute({
    entries: snap.ipvs,
    desired,
    ipsets: snap.ipsets,
    excluded: options.excluded,
  });
  const groups = new Map<string, DumpGroup>();
  for (const e of snap.ipvs) {
    const owner = owners.get(serviceKeyText(e.key));
    const name = owner?.group ?? serviceKeyText(e.key);
    let g = groups.get(name);
    if (!g) {
      groups.set(
        name,
        g = { name, virtualServers: [], ...owner?.service && { service: owner.service } },
      );
    }
    g.virtualServers.push(virtualServer(e, owner));
  }
  const rank = (n: string) => GROUP_ORDER.indexOf(n);
  const sorted = [...groups.values()]
    .filter((g) => serviceMatches(g, filter))
    .map((g) => ({
      ...g,
      virtualServers: g.virtualServers.filter((v) => vsMatches(v, filter.address))
        .sort(compareVirtualServers),
    }))
    .filter((g) => g.virtualServers.length > 0)
    .sort((a, b) =>
      rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    );

  return {
    source: desired ? "plan" : "kernel",
    groups: sorted,
    link: { exists: snap.link !== undefined, up: snap.link?.up ?? false },
    addresses: dumpAddresses(snap, desired, filter),
    ipsets: dumpSets(snap, filter.address),
    chains: dumpChains(snap),
    nft: dumpNft(snap, filter.address),
    sysctls: snap.sysctls,
    errors: snap.errors,
    ...(options.agent ? { agent: options.agent } : {}),
  };
}

const KIND_ORDER: Kind[] = ["cluster-ip", "external-ip", "load-balancer", "node-port", "unknown"];

function compareVirtualServers(a: DumpVirtualServer, b: DumpVirtualServer): number {
  return KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
    (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/** The kernel entries of a dump's virtual servers, in the dump's order (for `-o ipvsadm`). */
export function dumpEntries(report: DumpReport, snapshot: NodeSnapshot): ServiceEntry[] {
  const byKey = new Map(snapshot.ipvs.map((e) => [serviceKeyText(e.key), e]));
  const out: ServiceEntry[] = [];
  for (const g of report.groups) {
    for (const v of g.virtualServers) {
      const e = byKey.get(v.key);
      if (!e) continue;
      const keep = new Set(v.realServers.map((r) => `${r.address}|${r.port}`));
      out.push({
        ...e,
        destinations: e.destinations.filter((d) => keep.has(`${d.address}|${d.port}`)),
      });
    }
  }
  return out;
}
