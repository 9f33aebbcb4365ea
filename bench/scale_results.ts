/**
 * bench:scale's results as a JSON file beside what it prints, for plots and tables (format:
 * `kipvs-bench-scale/1`, described in bench/results/README.md). One file per source and size,
 * `bench/results/scale-<source>-<services>.json` unless `--json PATH` says otherwise; a new run
 * replaces it.
 *
 * @module
 */

import type { Machine } from "./scale_machine.ts";

/** One run of bench:scale. */
export interface ScaleResults {
  schema: "kipvs-bench-scale/1";
  /** When the run ended (ISO 8601, UTC). */
  date: string;
  /** The checkout's commit (`git rev-parse --short HEAD`), "+dirty" when it had changes. */
  commit: string;
  machine: {
    cpu: string;
    cores: number;
    /** The guest kernel: "User-Mode Linux 6.1.176, 1 vCPU". */
    kernel: string;
    load_before: number;
    load_after: number;
    other_guests_before: number;
    other_guests_after: number;
  };
  params: {
    source: "api" | "manifests";
    services: number;
    endpoints: number;
    [k: string]: string | number | boolean;
  };
  /** Every figure, by name: durations in ms (`_ms`) or s (`_s`), memory in MB (`_mb`). */
  figures: Record<string, number | Record<string, number>>;
  /** The last line printed. */
  last_line: string;
}

async function commit(): Promise<string> {
  const git = (args: string[]) =>
    new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).output();
  try {
    const head = new TextDecoder().decode((await git(["rev-parse", "--short", "HEAD"])).stdout);
    const dirty = (await git(["diff", "--quiet", "HEAD"])).code !== 0;
    return head.trim() + (dirty ? "+dirty" : "");
  } catch {
    return "unknown";
  }
}

/** Options of {@link writeResults}. */
export interface WriteResultsOptions {
  path: string;
  before: Machine;
  after: Machine;
  params: ScaleResults["params"];
  figures: ScaleResults["figures"];
  lastLine: string;
}

/** Writes the results file; returns its path. */
export async function writeResults(o: WriteResultsOptions): Promise<string> {
  const r: ScaleResults = {
    schema: "kipvs-bench-scale/1",
    date: new Date().toISOString(),
    commit: await commit(),
    machine: {
      cpu: o.before.cpu,
      cores: o.before.cores,
      kernel: `User-Mode Linux ${o.before.uml}, 1 vCPU`,
      load_before: Number(o.before.load),
      load_after: Number(o.after.load),
      other_guests_before: o.before.guests,
      other_guests_after: o.after.guests,
    },
    params: o.params,
    figures: o.figures,
    last_line: o.lastLine,
  };
  const dir = o.path.slice(0, o.path.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(o.path, JSON.stringify(r, null, 2) + "\n");
  return o.path;
}
