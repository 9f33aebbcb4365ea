/**
 * The machine-readable results of `bench:scale` (docs/bench/results.json): one entry per
 * measured configuration (source, services, endpoints, manifest format), as agreed in
 * /work/notes/bench-results-format.md. `bench:plot` draws docs/bench/scale.svg from them.
 *
 * @module
 */

/** The machine a run was measured on. */
export interface ResultMachine {
  /** "AMD EPYC 7B13". */
  cpu: string;
  cores: number;
  /** "User-Mode Linux 6.1.176 (1 vCPU)". */
  guest: string;
  deno?: string;
  /** The host's 1-minute load average before the run. */
  load?: string;
}

/** One measured configuration; times in milliseconds (medians), memory in MB. */
export interface ScaleRun {
  /** "2026-11-26". */
  date: string;
  machine: ResultMachine;
  /** Where kipvs read the cluster from. */
  source: "manifests" | "api";
  manifestFormat?: string;
  services: number;
  endpoints: number;
  /** Cold runs the medians are of. */
  runs?: number;
  /** The direct tools (ipvsadm -R, ipset restore, iptables-restore); null when not run. */
  baseline: { totalMs: number; [part: string]: number } | null;
  kipvs: {
    /** Process start to programmed. */
    coldMs: number;
    /** The first sync alone (plan and kernel writes). */
    firstSyncMs: number;
    /** One endpoint change, from the source seeing it to programmed. */
    oneChangeMs: number;
    startMs?: number;
    readMs?: number;
    churnMs?: number;
    restartMs?: number;
    restartWrites?: number;
    rssMb?: number;
  };
}

/** The results file. */
export interface ScaleResults {
  runs: ScaleRun[];
}

/** A results file that does not have the agreed form: names the file and the field. */
export class ResultsError extends Error {
  override name = "ResultsError";
}

type Obj = Record<string, unknown>;

function need(file: string, where: string, ok: boolean, what: string): void {
  if (!ok) throw new ResultsError(`${file}: ${where} ${what}`);
}

function checkRun(file: string, run: unknown, i: number): ScaleRun {
  const at = `runs[${i}]`;
  need(file, at, typeof run === "object" && run !== null, "must be an object");
  const r = run as Obj;
  const num = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;
  need(
    file,
    `${at}.date`,
    typeof r.date === "string" && /^\d{4}-\d\d-\d\d/.test(r.date),
    "must be a date (YYYY-MM-DD)",
  );
  need(
    file,
    `${at}.source`,
    r.source === "manifests" || r.source === "api",
    'must be "manifests" or "api"',
  );
  need(
    file,
    `${at}.services`,
    num(r.services) && (r.services as number) > 0,
    "must be a positive number",
  );
  const m = (r.machine ?? {}) as Obj;
  need(file, `${at}.machine.cpu`, typeof m.cpu === "string", "must be a string");
  need(file, `${at}.machine.cores`, num(m.cores), "must be a number");
  need(file, `${at}.machine.guest`, typeof m.guest === "string", "must be a string");
  const b = r.baseline as Obj | null | undefined;
  need(
    file,
    `${at}.baseline`,
    b === null || (typeof b === "object" && num(b?.totalMs)),
    "must be null or have totalMs",
  );
  const k = (r.kipvs ?? {}) as Obj;
  for (const f of ["coldMs", "firstSyncMs", "oneChangeMs"]) {
    need(file, `${at}.kipvs.${f}`, num(k[f]), "must be a number (milliseconds)");
  }
  return run as ScaleRun;
}

/** Parses and checks a results file's text; throws {@link ResultsError} naming file and field. */
export function parseResults(text: string, file: string): ScaleResults {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ResultsError(`${file}: not JSON: ${(err as Error).message}`);
  }
  need(file, "runs", Array.isArray((doc as Obj | null)?.runs), "must be a list");
  return { runs: ((doc as Obj).runs as unknown[]).map((r, i) => checkRun(file, r, i)) };
}

/** What identifies a configuration: a new run replaces the entry with the same one. */
export function configKey(r: ScaleRun): string {
  return `${r.source}|${r.services}|${r.endpoints}|${r.manifestFormat ?? ""}`;
}

/** `results` with `run` in place of the entry of the same configuration (or added). */
export function mergeRun(results: ScaleResults, run: ScaleRun): ScaleResults {
  const key = configKey(run);
  const runs = results.runs.filter((r) => configKey(r) !== key);
  runs.push(run);
  runs.sort((a, b) => a.services - b.services || (a.source < b.source ? -1 : 1));
  return { runs };
}
