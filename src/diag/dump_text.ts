/**
 * `kipvs dump` for a terminal: the IPVS table grouped by service port, then kube-ipvs0, the
 * ipsets, kipvs's chains and the sysctl verdicts, each an aligned table (coloured on a TTY).
 *
 * @module
 */

import { type Cell, renderTable, type Tone } from "./table.ts";
import type { DumpReport, DumpVirtualServer } from "./dump.ts";

/** Options of the renderers. */
export interface TextOptions {
  color: boolean;
}

const cell = (text: string, tone: Tone): Cell => ({ text, tone });

function flagsText(vs: DumpVirtualServer): string {
  const f = vs.flags.map((n) => n === "persistent" ? `persistent ${vs.persistenceTimeout}s` : n);
  return f.length ? f.join(",") : "-";
}

function ipvsTable(report: DumpReport, o: TextOptions): string {
  const rows: Cell[][] = [];
  for (const g of report.groups) {
    rows.push([cell(g.name, g.service ? "plain" : "warn")]);
    for (const vs of g.virtualServers) {
      rows.push([`  ${vs.key}`, vs.kind, vs.scheduler, flagsText(vs)]);
      if (vs.realServers.length === 0) rows.push([cell("    (no real servers)", "dim")]);
      for (const rs of vs.realServers) {
        const host = rs.address.includes(":") ? `[${rs.address}]` : rs.address;
        const state: string[] = [];
        if (rs.draining) state.push("draining");
        if (rs.local) state.push("local");
        rows.push([
          `    -> ${host}:${rs.port}`,
          "",
          "",
          "",
          String(rs.weight),
          String(rs.activeConnections),
          String(rs.inactiveConnections),
          cell(state.join(",") || "-", rs.draining ? "warn" : rs.local ? "good" : "plain"),
        ]);
      }
    }
  }
  const header = [
    "SERVICE / VIRTUAL SERVER",
    "KIND",
    "SCHEDULER",
    "FLAGS",
    "WEIGHT",
    "ACTIVE",
    "INACTIVE",
    "STATE",
  ];
  const names = report.source === "plan"
    ? "names from the source"
    : "no source: kinds from kube-proxy's ipsets, node ports grouped under their cluster IP";
  const vsCount = report.groups.reduce((n, g) => n + g.virtualServers.length, 0);
  const rsCount = report.groups.reduce(
    (n, g) => n + g.virtualServers.reduce((m, v) => m + v.realServers.length, 0),
    0,
  );
  const title = `IPVS: ${vsCount} virtual servers, ${rsCount} real servers (${names})\n`;
  return title + (rows.length ? renderTable(header, rows, o) : "  (none)\n");
}

function linkTable(report: DumpReport, o: TextOptions): string {
  const l = report.link;
  const title = `kube-ipvs0: ${
    l.exists ? `${l.up ? "up" : "down"}, ${report.addresses.length} addresses` : "absent"
  }\n`;
  if (report.addresses.length === 0) return title;
  const rows = report.addresses.map((a) => [a.address, a.services.join(" ") || "-"]);
  return title + renderTable(["ADDRESS", "SERVICES"], rows, o);
}

function setTable(report: DumpReport, o: TextOptions): string {
  const filtering = report.ipsets.some((s) => s.matching !== undefined);
  // Empty sets are counted, not listed (kube-proxy keeps all 34 of both families).
  const sets = filtering
    ? report.ipsets.filter((s) => s.matching?.length)
    : report.ipsets.filter((s) => s.entries > 0);
  const kube = report.ipsets.filter((s) => s.kube);
  const empty = kube.filter((s) => s.entries === 0).length;
  const title = `ipsets: ${kube.length} of kube-proxy's${
    filtering ? "; those with entries of the address" : empty ? `, ${empty} of them empty` : ""
  }\n`;
  if (sets.length === 0) return title;
  const rows: Cell[][] = sets.map((s) => [
    cell(s.name, s.kube ? "plain" : "dim"),
    s.type,
    String(s.entries),
    ...(filtering ? [s.matching!.join(" ")] : [s.kube ? "" : cell("not kube-proxy's", "dim")]),
  ]);
  const header = ["SET", "TYPE", "ENTRIES", filtering ? "MATCHING" : ""];
  return title + renderTable(header, rows, o);
}

function nftTable(report: DumpReport, o: TextOptions): string {
  const { sets, chains } = report.nft;
  if (sets.length === 0 && chains.length === 0) return "";
  const tables = [...new Set([...sets, ...chains].map((x) => x.table))].join(", ");
  const filtering = sets.some((s) => s.matching !== undefined);
  const shown = filtering ? sets.filter((s) => s.matching?.length) : sets;
  const setRows = shown.map((s) => [
    s.table,
    s.name,
    s.type,
    String(s.elements),
    ...(filtering ? [s.matching!.join(", ")] : []),
  ]);
  const chainRows = chains.map((c) => [c.table, c.name, c.hook ?? "", String(c.rules)]);
  return `nftables sets: ${sets.length} in ${tables}\n` +
    renderTable(
      ["TABLE", "SET", "TYPE", "ELEMENTS", ...(filtering ? ["MATCHING"] : [])],
      setRows,
      o,
    ) +
    `\nnftables chains: ${chains.length} in ${tables}\n` +
    renderTable(["TABLE", "CHAIN", "HOOK", "RULES"], chainRows, o);
}

function chainTable(report: DumpReport, o: TextOptions): string {
  const title = `chains: ${report.chains.length} of kipvs's\n`;
  if (report.chains.length === 0) return title;
  const rows = report.chains.map((c) => [`IPv${c.family}`, c.table, c.chain, String(c.rules)]);
  return title + renderTable(["FAMILY", "TABLE", "CHAIN", "RULES"], rows, o);
}

const VERDICT_TONE: Record<string, Tone> = {
  ok: "good",
  differs: "bad",
  missing: "bad",
  skipped: "dim",
};

function sysctlTable(report: DumpReport, o: TextOptions): string {
  const title = `sysctls\n`;
  if (report.sysctls.length === 0) return title + "  (not read)\n";
  const rows: Cell[][] = report.sysctls.map((v) => [
    v.key,
    v.want ?? "-",
    v.current ?? "(missing)",
    cell(v.state, VERDICT_TONE[v.state] ?? "plain"),
  ]);
  return title + renderTable(["SETTING", "WANTED", "CURRENT", "VERDICT"], rows, o);
}

/** What `kipvs run` says of drift: repairs by kind, then the last drift's sentences. */
function agentText(report: DumpReport): string[] {
  const a = report.agent;
  if (!a) return [];
  const title = `kipvs run (${a.address})`;
  if (a.error !== undefined) return [`${title}: not answering (${a.error})\n`];
  if (!a.drift) return [`${title}: no drift repaired since it started\n`];
  const { repairs, last } = a.drift;
  const counts = Object.entries(repairs).map(([k, n]) => `${k} ${n}`).join(", ");
  const lines = [`${title}: drift repaired since it started: ${counts}`];
  const again = last.syncsInARow > 1 ? `, ${last.syncsInARow} syncs in a row` : "";
  lines.push(
    `  last at ${last.at}${again}${last.writer ? `; another writer: ${last.writer}` : ""}`,
  );
  for (const o of last.objects) lines.push(`    ${o}`);
  return [lines.join("\n") + "\n"];
}

/** The whole dump as text. */
export function dumpText(report: DumpReport, o: TextOptions): string {
  return [
    ipvsTable(report, o),
    linkTable(report, o),
    setTable(report, o),
    chainTable(report, o),
    nftTable(report, o),
    sysctlTable(report, o),
    ...agentText(report),
  ].filter((s) => s !== "").join("\n");
}
