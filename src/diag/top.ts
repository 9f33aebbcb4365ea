/**
 * `kipvs top` as data: IPVS's own traffic counters and rate estimates, per service port
 * (namespace/service:port, or a cluster IP's key without a source) and per real server, from
 * one read of the IPVS table. Names come from dump's mapping ({@link attribute}): the plan when
 * a source was given, kube-proxy's ipsets otherwise. Rendering lives in `top_text.ts`.
 *
 * The kernel's estimator updates the rates (connections, packets and bytes per second) every
 * 2 seconds, so a service that just started receiving traffic shows 0/s for up to 2 s.
 *
 * @module
 */

import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import { serviceKeyText } from "../dataplane/ipvs/describe.ts";
import type { IpvsStats, ServiceEntry } from "../dataplane/ipvs/types.ts";
import type { DesiredState, ServicePortRef } from "../plan/desired.ts";
import { compareAddresses } from "../plan/nodeports.ts";
import { type DumpFilter, serviceMatches } from "./dump.ts";
import { attribute, UNOWNED } from "./owners.ts";

/** What `top` shows of a service port or real server. */
export interface TopFigures {
  /** New connections per second (the kernel's estimate). */
  cps: number;
  /** Packets per second in (client to real server) and out. */
  ppsIn: number;
  ppsOut: number;
  /** Bytes per second in and out. */
  bpsIn: number;
  bpsOut: number;
  /** Connections in ESTABLISHED (TCP) state now. */
  active: number;
  /** Other connections held now (TIME_WAIT, FIN_WAIT, UDP ...). */
  inactive: number;
  /** Connections since the virtual server was created (a counter). */
  connections: number;
}

/** A real server of a service port, its figures summed over the port's virtual servers. */
export interface TopRealServer extends TopFigures {
  address: string;
  port: number;
}

/** One row of `top`: a service port (all its virtual servers: cluster IP, node port, ...). */
export interface TopRow extends TopFigures {
  /** "default/web:http", a cluster IP's key without a source, or an unowned group's name. */
  name: string;
  service?: ServicePortRef;
  /** The virtual servers of the row ("TCP/10.96.0.10:80", ...). */
  virtualServers: string[];
  realServers: TopRealServer[];
}

/** Columns `top` sorts by. */
export const TOP_SORT_KEYS = [
  "name",
  "cps",
  "pps-in",
  "pps-out",
  "bps-in",
  "bps-out",
  "active",
  "inactive",
  "conns",
] as const;

/** A column `top` sorts by. */
export type TopSortKey = typeof TOP_SORT_KEYS[number];

/** Options of {@link buildTop}. */
export interface TopOptions {
  /** The IPVS table, read with counters. */
  entries: readonly ServiceEntry[];
  /** The plan, when a source was given. */
  desired?: DesiredState;
  /** kube-proxy's sets, for names without a source. */
  ipsets: IpsetSnapshot;
  filter?: DumpFilter;
  /** Whether an address is inside --ipvs-exclude-cidrs. */
  excluded?: (address: string) => boolean;
  sort?: TopSortKey;
}

/** What a snapshot of `top` holds. */
export interface TopReport {
  /** Where service names came from. */
  source: "plan" | "kernel";
  rows: TopRow[];
}

function zero(): TopFigures {
  return {
    cps: 0,
    ppsIn: 0,
    ppsOut: 0,
    bpsIn: 0,
    bpsOut: 0,
    active: 0,
    inactive: 0,
    connections: 0,
  };
}

/** Adds a read's counters (absent when read without them). */
function addStats(to: TopFigures, s: IpvsStats | undefined): void {
  if (!s) return;
  to.cps += s.cps;
  to.ppsIn += s.ppsIn;
  to.ppsOut += s.ppsOut;
  to.bpsIn += s.bpsIn;
  to.bpsOut += s.bpsOut;
  to.connections += s.connections;
}

/** Groups the IPVS table's figures by service port and real server, filtered and sorted. */
export function buildTop(options: TopOptions): TopReport {
  const owners = attribute({
    entries: options.entries,
    desired: options.desired,
    ipsets: options.ipsets,
    excluded: options.excluded,
  });
  const rows = new Map<string, TopRow & { reals: Map<string, TopRealServer> }>();
  for (const e of options.entries) {
    const key = serviceKeyText(e.key);
    const owner = owners.get(key);
    const name = owner?.group ?? key;
    let row = rows.get(name);
    if (!row) {
      row = {
        name,
        ...(owner?.service ? { service: owner.service } : {}),
        ...zero(),
        virtualServers: [],
        realServers: [],
        reals: new Map(),
      };
      rows.set(name, row);
    }
    row.virtualServers.push(key);
    addStats(row, e.stats);
    for (const d of e.destinations) {
      row.active += d.activeConnections;
      row.inactive += d.inactiveConnections;
      const dk = `${d.address}|${d.port}`;
      let rs = row.reals.get(dk);
      if (!rs) row.reals.set(dk, rs = { address: d.address, port: d.port, ...zero() });
      addStats(rs, d.stats);
      rs.active += d.activeConnections;
      rs.inactive += d.inactiveConnections;
    }
  }
  const filter = options.filter ?? {};
  const sort = options.sort ?? "cps";
  const out: TopRow[] = [];
  for (const { reals, ...row } of rows.values()) {
    if (!serviceMatches(row, filter)) continue;
    row.virtualServers.sort();
    row.realServers = [...reals.values()].sort((a, b) =>
      compareFigures(a, b, sort) || compareAddresses(a.address, b.address) || a.port - b.port
    );
    out.push(row);
  }
  out.sort((a, b) => compareFigures(a, b, sort) || compareNames(a.name, b.name));
  return { source: options.desired ? "plan" : "kernel", rows: out };
}

const FIELD: Record<Exclude<TopSortKey, "name">, keyof TopFigures> = {
  cps: "cps",
  "pps-in": "ppsIn",
  "pps-out": "ppsOut",
  "bps-in": "bpsIn",
  "bps-out": "bpsOut",
  active: "active",
  inactive: "inactive",
  conns: "connections",
};

// Unowned groups ("(not in plan)", ...) after the service ports.
const unowned = new Set<string>(Object.values(UNOWNED));

function compareNames(a: string, b: string): number {
  return Number(unowned.has(a)) - Number(unowned.has(b)) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Figures descending by `sort` (the busiest first); 0 for "name" (names decide). */
function compareFigures(a: TopFigures, b: TopFigures, sort: TopSortKey): number {
  if (sort === "name") return 0;
  const f = FIELD[sort];
  return b[f] - a[f];
}
