/**
 * `kipvs explain` for a terminal: the service, then each hook's rules in the order the packet
 * meets them, the ipset lookups, the IPVS virtual server and its real servers, and the answer
 * with and without endpoints.
 *
 * @module
 */

import { type Cell, renderTable, type Tone } from "./table.ts";
import type { TextOptions } from "./dump_text.ts";
import type { Explanation, Outcome } from "./explain.ts";
import type { HookResult, TraceStep } from "./walk.ts";

const cell = (text: string, tone: Tone): Cell => ({ text, tone });

function resultCell(s: TraceStep): Cell {
  if (s.result === "no") return cell("no", "dim");
  if (s.result === "unknown") return cell("unknown: taken as no", "warn");
  const a = s.action ?? "";
  const tone: Tone = /^(DROP|REJECT)/.test(a) || a === "policy DROP" ? "bad" : "good";
  return cell(a ? `match: ${a}` : "match", tone);
}

function hookTable(h: HookResult, o: TextOptions): string {
  const title = `${h.hook}: ${h.target}\n`;
  if (h.steps.length === 0) return title + "  (no rules)\n";
  const rows: Cell[][] = h.steps.map((s) => [
    resultCell(s),
    s.chain,
    s.rule.startsWith(`-A ${s.chain} `) ? s.rule.slice(`-A ${s.chain} `.length) : s.rule,
  ]);
  return title + renderTable(["RESULT", "CHAIN", "RULE"], rows, { ...o, indent: "  " });
}

function originText(e: Explanation): string {
  return e.origin === "node"
    ? "sent by the node itself: nat OUTPUT, then IPVS"
    : "from a pod or another host: nat PREROUTING, filter INPUT, then IPVS";
}

/** The explanation as text. */
export function explainText(e: Explanation, o: TextOptions): string {
  const out: string[] = [];
  out.push(`${e.target} from ${e.source} (${originText(e)})`);
  const svc = e.service;
  if (svc) {
    const p = svc.policy;
    const policy = p
      ? `; internalTrafficPolicy ${p.internal}, externalTrafficPolicy ${p.external}, ` +
        `sessionAffinity ${p.affinity}`
      : "";
    out.push(`service: ${svc.name ?? "(no source: names unknown)"}, ${svc.kind}${policy}`);
  }
  for (const n of e.notes) out.push(`note: ${n}`);
  out.push("");
  for (const h of e.hooks) out.push(hookTable(h, o));
  if (e.lookups.length > 0) out.push(lookupsText(e, o));
  if (e.ipvs) out.push(...ipvsText(e, e.ipvs, o));
  const assumed = new Set<string>();
  for (const h of [...e.hooks, ...e.afterIpvs]) {
    for (const s of h.steps) for (const n of s.notes) assumed.add(n);
  }
  for (const n of assumed) out.push(`(${n})`);
  if (assumed.size) out.push("");
  out.push(`answer: ${outcomeText(e.outcome)}`);
  out.push(`without endpoints: ${outcomeText(e.withoutEndpoints)}`);
  return out.join("\n") + "\n";
}

function lookupsText(e: Explanation, o: TextOptions): string {
  const rows: Cell[][] = e.lookups.map((l) => [
    l.set,
    l.element + (l.entry && l.entry !== l.element ? ` (entry ${l.entry})` : ""),
    l.found === undefined
      ? cell(`unknown: ${l.why}`, "warn")
      : cell(l.found ? "yes" : "no", l.found ? "good" : "dim"),
  ]);
  return "ipset lookups\n" +
    renderTable(["SET", "ELEMENT", "PRESENT"], rows, { ...o, indent: "  " });
}

function ipvsText(e: Explanation, v: NonNullable<Explanation["ipvs"]>, o: TextOptions): string[] {
  const out: string[] = [];
  const persist = v.persistenceTimeout ? `, persistent ${v.persistenceTimeout}s` : "";
  out.push(
    `IPVS ${v.virtualServer}: scheduler ${v.scheduler}${persist}, ${v.realServers.length} real server(s)`,
  );
  if (v.realServers.length > 0) {
    const rows: Cell[][] = v.realServers.map((r) => [
      `${r.address.includes(":") ? `[${r.address}]` : r.address}:${r.port}`,
      cell(String(r.weight), r.receives ? "plain" : "warn"),
      r.local === undefined ? "?" : r.local ? "yes" : "no",
      cell(r.filter, r.filter === "ACCEPT" ? "plain" : "bad"),
      r.masquerade ? "yes" : "no",
      r.hairpin
        ? "hairpin"
        : r.receives
        ? ""
        : cell("weight 0: draining, no new connections", "warn"),
    ]);
    const head = ["REAL SERVER", "WEIGHT", "LOCAL", "FILTER OUTPUT", "MASQUERADE", ""];
    out.push(renderTable(head, rows, { ...o, indent: "  " }));
  }
  if (e.shownFor) {
    out.push(`after IPVS, for ${e.shownFor}:`);
    for (const h of e.afterIpvs) out.push(hookTable(h, o));
  }
  return out;
}

/** One sentence for an outcome. */
export function outcomeText(o: Outcome): string {
  switch (o.kind) {
    case "balanced": {
      const n = o.realServers;
      const to = `delivered to one of ${n} real server${n === 1 ? "" : "s"}`;
      if (o.masqueraded === 0) return `${to}, which see the client's own address`;
      if (o.masqueraded === n) return `${to}, masqueraded: they see the node's address`;
      return `${to}; masqueraded (the node's address) for ${o.masqueraded} of them`;
    }
    case "dropped":
      return `dropped in ${o.hook}: the client gets no answer and times out`;
    case "rejected":
      return `rejected in ${o.hook} with ICMP port unreachable: connection refused`;
    case "no-endpoints":
      return "no real server can take it: IPVS answers ICMP port unreachable (a TCP client " +
        "sees connection refused)";
    case "local":
      return "no virtual server has it: the node's own sockets answer (connection refused " +
        "when nothing listens)";
    case "not-local":
      return "not an address of this node: the packet is routed on, kipvs does not handle it";
  }
}
