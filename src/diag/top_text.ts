/**
 * `kipvs top` for a terminal: one row per service port (and its real servers when expanded),
 * numbers right-aligned with SI suffixes, the busiest first.
 *
 * @module
 */

import { type Cell, renderTable } from "./table.ts";
import type { TopFigures, TopReport, TopSortKey } from "./top.ts";

/** Options of {@link topText}. */
export interface TopTextOptions {
  /** Show each service port's real servers under it. */
  endpoints: boolean;
  color: boolean;
  /** At most this many table lines (the terminal's height); the rest is counted. */
  maxLines?: number;
}

/** The columns, in order, with the sort key each one is. */
export const TOP_COLUMNS: readonly [string, TopSortKey][] = [
  ["SERVICE", "name"],
  ["CONN/S", "cps"],
  ["PKT/S IN", "pps-in"],
  ["PKT/S OUT", "pps-out"],
  ["BYTES/S IN", "bps-in"],
  ["BYTES/S OUT", "bps-out"],
  ["ACTIVE", "active"],
  ["INACTIVE", "inactive"],
  ["CONNS", "conns"],
];

/** 950, 1.2k, 34k, 5.6M: three significant figures at most. */
export function siCount(n: number): string {
  if (n < 1000) return String(Math.round(n));
  const units = ["k", "M", "G", "T", "P"];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** 512B, 1.2kB, 34MB. */
export function siBytes(n: number): string {
  return `${siCount(n)}B`;
}

function figures(f: TopFigures): string[] {
  return [
    siCount(f.cps),
    siCount(f.ppsIn),
    siCount(f.ppsOut),
    siBytes(f.bpsIn),
    siBytes(f.bpsOut),
    String(f.active),
    String(f.inactive),
    siCount(f.connections),
  ];
}

/** The table of a report (header included), cut to `maxLines` with a "... N more" line. */
export function topText(report: TopReport, o: TopTextOptions): string {
  const rows: Cell[][] = [];
  for (const r of report.rows) {
    rows.push([r.service ? r.name : { text: r.name, tone: "warn" }, ...figures(r)]);
    if (!o.endpoints) continue;
    for (const rs of r.realServers) {
      const host = rs.address.includes(":") ? `[${rs.address}]` : rs.address;
      rows.push([{ text: `  -> ${host}:${rs.port}`, tone: "dim" }, ...figures(rs)]);
    }
  }
  if (rows.length === 0) return "(no virtual servers)\n";
  const limit = o.maxLines === undefined ? rows.length : Math.max(1, o.maxLines - 2);
  const shown = rows.length > limit ? rows.slice(0, limit) : rows;
  const table = renderTable(TOP_COLUMNS.map(([h]) => h), shown, {
    color: o.color,
    alignRight: [1, 2, 3, 4, 5, 6, 7, 8],
  });
  return table + (shown.length < rows.length ? `... ${rows.length - shown.length} more\n` : "");
}
