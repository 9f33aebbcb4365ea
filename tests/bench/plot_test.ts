import assert from "node:assert/strict";
import { plotPoints, plotSvg, provenance, SERIES } from "../../bench/plot.ts";
import {
  mergeRun,
  parseResults,
  ResultsError,
  type ScaleResults,
  type ScaleRun,
} from "../../bench/scale_results.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function run(
  services: number,
  source: "manifests" | "api",
  extra: Partial<ScaleRun> = {},
): ScaleRun {
  return {
    date: "2026-12-05",
    machine: { cpu: "AMD EPYC", cores: 2, guest: "User-Mode Linux 6.1 (1 vCPU)", deno: "2.9.6" },
    source,
    services,
    endpoints: 10,
    runs: 3,
    baseline: { totalMs: services * 12 },
    kipvs: { coldMs: services * 3, firstSyncMs: services, oneChangeMs: 14 },
    ...extra,
  };
}

Deno.test("parseResults() names the file and the field of what is missing or wrong", () => {
  const bad = (doc: unknown, re: RegExp) =>
    assert.throws(
      () => parseResults(JSON.stringify(doc), "r.json"),
      (e: unknown) => e instanceof ResultsError && re.test(e.message),
    );
  bad({}, /^r\.json: runs must be a list$/);
  bad({ runs: [{ ...run(1000, "api"), source: "files" }] }, /runs\[0\]\.source must be/);
  bad(
    { runs: [run(1000, "api"), { ...run(10000, "api"), kipvs: { coldMs: 1, firstSyncMs: 1 } }] },
    /runs\[1\]\.kipvs\.oneChangeMs must be a number/,
  );
  assert.throws(() => parseResults("{", "r.json"), /r\.json: not JSON/);
  assert.equal(parseResults(JSON.stringify({ runs: [run(1000, "api")] }), "r").runs.length, 1);
});

Deno.test("mergeRun() replaces the run of the same configuration and keeps the others, by size", () => {
  let r: ScaleResults = { runs: [run(10000, "manifests"), run(1000, "manifests")] };
  r = mergeRun(r, run(50000, "api"));
  r = mergeRun(r, run(1000, "manifests", { date: "2026-12-24" }));
  assert.deepEqual(r.runs.map((x) => [x.services, x.source, x.date]), [
    [1000, "manifests", "2026-12-24"],
    [10000, "manifests", "2026-12-05"],
    [50000, "api", "2026-12-05"],
  ]);
});

Deno.test("plotPoints() draws the baseline where it was run, kipvs's cold start per source, one change", () => {
  const points = plotPoints([
    run(1000, "manifests"),
    run(50000, "api", { baseline: null }),
  ]);
  const series = (name: string) => points.filter((p) => p.series === name).map((p) => p.services);
  assert.deepEqual(series(SERIES.baseline), [1000]);
  assert.deepEqual(series(SERIES.firstSync), [1000, 50000]);
  assert.deepEqual(series(SERIES.cold("manifests")), [1000]);
  assert.deepEqual(series(SERIES.cold("api")), [50000]);
  assert.deepEqual(series(SERIES.change("api")), [50000]);
  const base = points.find((p) => p.series === SERIES.baseline)!;
  assert.deepEqual([base.value, base.label], [12, "12.0 s"]);
  assert.deepEqual(provenance([run(1000, "manifests")]), [
    "Measured 2026-12-05 on AMD EPYC, 2 cores, User-Mode Linux 6.1 (1 vCPU), Deno 2.9.6:",
    "    1,000 Services x 10 endpoints from manifests, median of 3 cold runs",
  ]);
});

Deno.test("plotSvg() renders axes, units, legend, date and machine", async () => {
  const svg = await plotSvg([run(1000, "manifests"), run(10000, "manifests")]);
  assert.match(svg, /^<svg /);
  for (
    const text of [
      "Services (log scale)",
      "seconds",
      "milliseconds",
      "10,000",
      "direct tools: ipvsadm -R + ipset restore + iptables-restore",
      "Measured 2026-12-05 on AMD EPYC, 2 cores",
      "120.0 s",
    ]
  ) assert.ok(svg.includes(text), `the SVG shows "${text}"`);
});

Deno.test("docs/bench/scale.svg is what bench:plot draws from docs/bench/results.json", async () => {
  const results = parseResults(
    await Deno.readTextFile(`${ROOT}docs/bench/results.json`),
    "docs/bench/results.json",
  );
  const committed = await Deno.readTextFile(`${ROOT}docs/bench/scale.svg`);
  assert.equal(
    committed,
    await plotSvg(results.runs) + "\n",
    "regenerate it: deno task bench:plot",
  );
});
