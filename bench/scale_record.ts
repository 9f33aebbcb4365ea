/**
 * bench:scale's figures into the results file (docs/bench/results.json, format in
 * scale_results.ts and /work/notes/bench-results-format.md): the run replaces the entry of the
 * same configuration; `bench:plot` draws from it.
 *
 * @module
 */

import type { Machine } from "./scale_machine.ts";
import { mergeRun, parseResults, type ScaleResults, type ScaleRun } from "./scale_results.ts";

/** Options of {@link recordRun}. */
export interface RecordOptions {
  /** The results file (created when missing). */
  path: string;
  before: Machine;
  source: "manifests" | "api";
  manifestFormat?: string;
  services: number;
  endpoints: number;
  runs?: number;
  baseline: ScaleRun["baseline"];
  kipvs: ScaleRun["kipvs"] & Record<string, number | undefined>;
}

/** Adds (or replaces) this run's entry in the results file; returns the file's path. */
export async function recordRun(o: RecordOptions): Promise<string> {
  let results: ScaleResults = { runs: [] };
  try {
    results = parseResults(await Deno.readTextFile(o.path), o.path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const run: ScaleRun = {
    date: new Date().toISOString().slice(0, 10),
    machine: {
      cpu: o.before.cpu,
      cores: o.before.cores,
      guest: `User-Mode Linux ${o.before.uml} (1 vCPU)`,
      deno: Deno.version.deno,
      load: o.before.load,
    },
    source: o.source,
    ...(o.manifestFormat ? { manifestFormat: o.manifestFormat } : {}),
    services: o.services,
    endpoints: o.endpoints,
    ...(o.runs ? { runs: o.runs } : {}),
    baseline: o.baseline,
    kipvs: Object.fromEntries(
      Object.entries(o.kipvs)
        .filter(([, v]) => v !== undefined && Number.isFinite(v))
        .map(([k, v]) => [k, Math.round((v as number) * 10) / 10]),
    ) as ScaleRun["kipvs"],
  };
  await Deno.writeTextFile(o.path, JSON.stringify(mergeRun(results, run), null, 2) + "\n");
  return o.path;
}
