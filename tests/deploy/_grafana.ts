/**
 * deploy/grafana/kipvs-dashboard.json as data for its tests: every PromQL expression its panels and
 * variables query, parsed with Prometheus's own PromQL grammar (@prometheus-io/lezer-promql, the
 * parser of Prometheus's web UI), and the metric names those expressions select.
 *
 * @module
 */

import { parser } from "@prometheus-io/lezer-promql";
import { type Json, ROOT } from "./_deploy.ts";

/** The dashboard file. */
export const DASHBOARD = `${ROOT}/deploy/grafana/kipvs-dashboard.json`;

/** One query of the dashboard: where it is and its PromQL. */
export interface Query {
  /** "panel 7 (Sync duration) A", "variable instance". */
  where: string;
  expr: string;
}

/** The dashboard, parsed. */
export async function dashboard(): Promise<Json> {
  return JSON.parse(await Deno.readTextFile(DASHBOARD));
}

/** Every panel of the dashboard, rows' nested panels included. */
export function panels(d: Json): Json[] {
  return (d.panels ?? []).flatMap((p: Json) => [p, ...(p.panels ?? [])]);
}

/** Every PromQL query: each panel target's `expr` and each query variable's query. */
export function queries(d: Json): Query[] {
  const out: Query[] = [];
  for (const p of panels(d)) {
    for (const t of p.targets ?? []) {
      out.push({ where: `panel ${p.id} (${p.title}) ${t.refId}`, expr: t.expr });
    }
  }
  for (const v of d.templating?.list ?? []) {
    if (v.type !== "query") continue;
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    // label_values(metric, label) is Grafana's, not PromQL: its metric is what it queries.
    const lv = /^label_values\(\s*([^,)]+)/.exec(q ?? "");
    out.push({ where: `variable ${v.name}`, expr: lv ? lv[1]! : q });
  }
  return out;
}

// Grafana's interval variables are durations at query time.
const withDurations = (expr: string) => expr.replace(/\$__\w+/g, "5m");

/**
 * The metric names `expr` selects (vector and matrix selectors), in order; throws naming the
 * position when the expression is not valid PromQL.
 */
export function metricNames(expr: string): string[] {
  const text = withDurations(expr);
  const names: string[] = [];
  let error: number | undefined;
  parser.parse(text).iterate({
    enter: (n) => {
      if (n.type.isError) error ??= n.from;
      if (n.name !== "VectorSelector") return;
      const id = n.node.getChild("Identifier");
      if (id) names.push(text.slice(id.from, id.to));
    },
  });
  if (error !== undefined) {
    throw new Error(`not valid PromQL at ${error}: ${text.slice(0, error)} <-- here`);
  }
  return names;
}

/** Each metric name the dashboard queries, with the queries that use it. */
export function dashboardMetrics(d: Json): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const q of queries(d)) {
    for (const name of metricNames(q.expr)) out.set(name, [...out.get(name) ?? [], q.where]);
  }
  return out;
}

/**
 * The metric names of a Prometheus text exposition that have samples ("name{...} value" lines;
 * a histogram's name_bucket, name_sum and name_count).
 */
export function exposedNames(exposition: string): Set<string> {
  const out = new Set<string>();
  for (const line of exposition.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})?\s+\S+/.exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}
