/**
 * `deno task bench:plot [RESULTS.json ...] [--out FILE.svg]`: draws what `bench:scale` measured
 * (default docs/bench/results.json) as one SVG (default docs/bench/scale.svg): the time to
 * program the whole cluster against the number of Services, kipvs against the direct tools
 * (ipvsadm -R, ipset restore, iptables-restore), and one endpoint change's latency, with the
 * date and the machine of every run.
 *
 * Drawn with Vega-Lite (npm `vega-lite` and `vega`): a declarative chart that gives log axes,
 * ticks, a legend and layout without hand-placed coordinates, and that Vega renders to SVG
 * headless (`renderer: "none"`, no canvas or browser), which works in Deno. The packages are
 * only for this task: the kipvs executable does not import them.
 *
 * @module
 */

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { parseResults, type ScaleRun } from "./scale_results.ts";

/** One point of the chart. */
export interface PlotPoint {
  panel: "cold" | "change";
  series: string;
  services: number;
  value: number;
  label: string;
}

/** Series names, in legend order. */
export const SERIES = {
  baseline: "direct tools: ipvsadm -R + ipset restore + iptables-restore",
  firstSync: "kipvs: first sync (plan + kernel writes)",
  cold: (source: string) => `kipvs: cold start from ${source} (process start to programmed)`,
  change: (source: string) => `kipvs: one endpoint change from ${source} (seen to programmed)`,
};

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

/** The chart's points: per run, the baseline, kipvs's first sync and cold start, one change. */
export function plotPoints(runs: readonly ScaleRun[]): PlotPoint[] {
  const out: PlotPoint[] = [];
  for (const r of runs) {
    const s = r.services;
    const cold = (series: string, ms: number) =>
      out.push({ panel: "cold", series, services: s, value: ms / 1000, label: seconds(ms) });
    if (r.baseline) cold(SERIES.baseline, r.baseline.totalMs);
    // The first sync does not depend on where the objects came from: one series.
    if (r.source === "manifests" || !runs.some((o) => o.services === s && o !== r)) {
      cold(SERIES.firstSync, r.kipvs.firstSyncMs);
    }
    cold(SERIES.cold(r.source), r.kipvs.coldMs);
    out.push({
      panel: "change",
      series: SERIES.change(r.source),
      services: s,
      value: r.kipvs.oneChangeMs,
      label: `${r.kipvs.oneChangeMs} ms`,
    });
  }
  return out;
}

/**
 * The subtitle: for each date and machine, "Measured 2026-11-26 on AMD EPYC, 2 cores, User-Mode
 * Linux 6.1 (1 vCPU), Deno 2.9.6:" and then what was measured there, one line each.
 */
export function provenance(runs: readonly ScaleRun[]): string[] {
  const groups = new Map<string, ScaleRun[]>();
  for (const r of runs) {
    const m = r.machine;
    const key = `Measured ${r.date} on ${m.cpu}, ${m.cores} cores, ${m.guest}` +
      (m.deno ? `, Deno ${m.deno}` : "") + ":";
    groups.set(key, [...groups.get(key) ?? [], r]);
  }
  return [...groups].flatMap(([key, rs]) => [
    key,
    ...rs.map((r) =>
      `    ${r.services.toLocaleString("en-US")} Services x ${r.endpoints} endpoints from ` +
      r.source + (r.manifestFormat && r.source === "manifests" ? ` (${r.manifestFormat})` : "") +
      (r.runs ? `, median of ${r.runs} cold run${r.runs > 1 ? "s" : ""}` : "")
    ),
  ]);
}

function panel(o: {
  panel: PlotPoint["panel"];
  title: string;
  y: Record<string, unknown>;
  xValues: number[];
  /** The x axis's ends. */
  xDomain: [number, number];
  /** The series, in legend order (the same colours in both panels). */
  order: string[];
}): Record<string, unknown> {
  const x = {
    field: "services",
    type: "quantitative",
    scale: { type: "log", domain: o.xDomain, nice: false },
    axis: { title: "Services (log scale)", values: o.xValues, format: ",", grid: true },
  };
  const y = { field: "value", type: "quantitative", ...o.y };
  const color = { field: "series", type: "nominal", scale: { domain: o.order } };
  return {
    title: o.title,
    width: 380,
    height: 280,
    transform: [{ filter: `datum.panel === '${o.panel}'` }],
    layer: [
      {
        mark: { type: "line", point: { size: 50, filled: true }, strokeWidth: 2 },
        encoding: { x, y, color },
      },
      {
        mark: { type: "text", align: "left", baseline: "middle", dx: 7, fontSize: 10 },
        encoding: { x, y, text: { field: "label" }, color },
      },
    ],
  };
}

/** The Vega-Lite specification of the chart. */
export function plotSpec(runs: readonly ScaleRun[]): TopLevelSpec {
  const points = plotPoints(runs);
  const xValues = [...new Set(runs.map((r) => r.services))].sort((a, b) => a - b);
  const xDomain: [number, number] = [xValues[0]! / 1.6, xValues[xValues.length - 1]! * 2.2];
  const order = [
    SERIES.baseline,
    SERIES.firstSync,
    ...[...new Set(points.map((p) => p.series))].filter((s) =>
      s !== SERIES.baseline && s !== SERIES.firstSync
    ),
  ].filter((s) => points.some((p) => p.series === s));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "kipvs bench:scale: programming a node, lower is better",
      subtitle: provenance(runs),
      anchor: "start",
      subtitleFontSize: 11,
    },
    background: "white",
    padding: 16,
    config: {
      font: "sans-serif",
      legend: { orient: "bottom", direction: "vertical", title: null, labelLimit: 520 },
    },
    data: { values: points },
    resolve: { scale: { color: "shared" } },
    hconcat: [
      panel({
        panel: "cold",
        title: "The whole cluster, from nothing (seconds, log scale)",
        y: { scale: { type: "log" }, axis: { title: "seconds" } },
        xValues,
        xDomain,
        order,
      }),
      panel({
        panel: "change",
        title: "One endpoint change (milliseconds)",
        y: { scale: { zero: true }, axis: { title: "milliseconds" } },
        xValues,
        xDomain,
        order,
      }),
    ],
  } as unknown as TopLevelSpec;
}

/** Renders the chart of `runs` as an SVG document. */
export async function plotSvg(runs: readonly ScaleRun[]): Promise<string> {
  const view = new vega.View(vega.parse(compile(plotSpec(runs)).spec), { renderer: "none" });
  return await view.toSVG();
}

if (import.meta.main) {
  const args = [...Deno.args];
  const at = args.indexOf("--out");
  const out = at >= 0 ? args.splice(at, 2)[1]! : "docs/bench/scale.svg";
  const files = args.length ? args : ["docs/bench/results.json"];
  const runs: ScaleRun[] = [];
  for (const f of files) runs.push(...parseResults(await Deno.readTextFile(f), f).runs);
  if (runs.length === 0) throw new Error(`bench:plot: no runs in ${files.join(", ")}`);
  await Deno.writeTextFile(out, await plotSvg(runs) + "\n");
  console.log(`bench:plot: ${out} from ${runs.length} run(s) in ${files.join(", ")}`);
}
