/**
 * `deno task bench:scale [--source manifests|api] [--services N] [--endpoints M] [--changes C]
 * [--resync S] [--cpu-prof DIR] [--results FILE] [--verbose]`, plus for manifests `[--format
 * yaml|json] [--runs R] [--churn K] [--no-baseline]` and for api `[--churn-seconds T]`.
 *
 * `--source api` (bench/scale_api_guest.sh): the test API server of tests/support runs in the
 * guest with the cluster (paged lists of 500, watches), kipvs runs with `--kubeconfig`; it
 * measures the cold start with its phases (start, list, plan, kernel), C single endpoint changes
 * (default 20: p50 and p99, writes), 1% churn per second for T seconds (default 60: p99, RSS at
 * its start and end), a full resync and a restart with nothing changed (time, writes), peak RSS
 * and /healthz during the cold start and the resync; the last line is `scale<N>k source=api
 * first_sync_s=.. one_change_p50_ms=.. one_change_p99_ms=.. churn_p99_ms=.. resync_writes=..
 * restart_writes=.. rss_mb=.. healthz_p99_ms=..`.
 *
 * `--source manifests` (the default, bench/scale_guest.sh; 1000 x 10 as YAML, 3 runs, 5 single
 * changes, 3 churn rounds, resync 30 s after a restart), in one guest boot:
 *
 * - the direct baseline: the same content loaded in a fresh network namespace with `ipvsadm -R`,
 *   one `ipset restore` and one `iptables-legacy-restore` per family (and, apart, the addresses
 *   with one `ip -batch`), each command timed whole;
 * - (a) `kipvs run --manifests` in another fresh namespace, from process start to its first
 *   sync done (Deno's start, reading N files, planning and programming included);
 * - both namespaces compared (IPVS, ipsets, iptables, addresses) and checked against the plan;
 * - (b) one endpoint of one Service changed, C times: time from the source seeing the change to
 *   programmed (kipvs's `latencyMs`), and from the file's rename to programmed;
 * - (c) 1% of the Services changed by one rename burst, K times;
 * - (d) kipvs restarted with nothing changed: its first sync's writes;
 * - (e) kipvs's peak RSS (VmHWM) over all of it;
 * - (f) the restarted kipvs's first periodic full resync (`--ipvs-sync-period S`), nothing changed;
 * - (g) `/healthz` latency during the cold starts and during (f), from a client polling it
 *   every 50 ms (bench/healthz_poll.py): kipvs must answer its probes during any sync.
 *
 * The cold runs are repeated R times (a fresh namespace each, alternating which side goes
 * first) and medians are reported. `--no-baseline` skips the direct tools (the checks then
 * compare kipvs with the plan only). Figures are printed, nothing passes or fails on time; the
 * content checks fail the benchmark. The last line is
 * `scale cold_ratio=<x> one_change_ms=<t> restart_writes=<n> rss_mb=<m> healthz_p99_ms=<h>`
 * (without cold_ratio under --no-baseline).
 *
 * Both add their figures to a JSON results file too (docs/bench/results.json unless `--results
 * FILE`; see scale_record.ts), which `deno task bench:plot` draws.
 *
 * @module
 */

import { assertGuestOk, KIPVS_ROOT, runInGuest } from "../tests/kernel/harness.ts";
import {
  baselineInputs,
  clusterIP,
  manifestText,
  planTexts,
  remoteEndpoint,
  type ScaleShape,
  serviceKey,
  serviceType,
} from "./scale_gen.ts";
import { bootedKernel, type Machine, machine } from "./scale_machine.ts";
import { writeApiData } from "./scale_api_data.ts";
import { reportApi, reportCold } from "./scale_api_report.ts";
import { abVariants, reportAb } from "./scale_ab_report.ts";
import { recordRun } from "./scale_record.ts";
import {
  all,
  breakdown,
  duration,
  elapsed,
  type GuestFigures,
  median,
  opsText,
  parseGuest,
  probeText,
  probeWindow,
  sumSyncs,
  type SyncedLine,
} from "./scale_report.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  const v = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} wants a positive integer`);
  return v;
}

/** Options of {@link writeData}. */
interface DataOptions {
  dir: string;
  shape: ScaleShape;
  changes: number;
  churn: number;
}

/** What the checks need besides the files. */
interface DataSummary {
  virtualServers: number;
  realServers: number;
  ipsetLines: number;
  addresses: number;
  byType: Record<string, number>;
  churnServices: number;
}

/** Writes the manifests, the edits, the baseline's inputs and the expected tables. */
async function writeData(o: DataOptions): Promise<DataSummary> {
  const { dir, shape } = o;
  const texts = new Map<string, string>();
  const byType: Record<string, number> = {};
  await Deno.mkdir(`${dir}/manifests`);
  for (let i = 0; i < shape.services; i++) {
    const { file } = serviceKey(shape, i);
    const text = manifestText(shape, i);
    texts.set(file, text);
    byType[serviceType(i)] = (byType[serviceType(i)] ?? 0) + 1;
    await Deno.writeTextFile(`${dir}/manifests/${file}`, text);
  }
  const initial = planTexts(texts);
  const base = baselineInputs(initial);
  await Deno.mkdir(`${dir}/baseline`);
  await Deno.writeTextFile(`${dir}/baseline/ipvsadm.rules`, base.ipvsadmRules);
  await Deno.writeTextFile(`${dir}/baseline/ipset.restore`, base.ipset);
  await Deno.writeTextFile(`${dir}/baseline/iptables4.restore`, base.iptables[4]);
  await Deno.writeTextFile(`${dir}/baseline/iptables6.restore`, base.iptables[6]);
  await Deno.writeTextFile(`${dir}/baseline/addresses.batch`, base.addresses);
  await Deno.writeTextFile(`${dir}/expected-initial.rules`, base.ipvsadmRules);

  // (b) single changes: ClusterIP services spread over the range, one remote endpoint each.
  for (let c = 1; c <= o.changes; c++) {
    let i = Math.floor((c * shape.services) / (o.changes + 1));
    while (serviceType(i) !== "ClusterIP") i++;
    const ip = `10.250.0.${c}`;
    const { file } = serviceKey(shape, i);
    const text = manifestText(shape, i, { endpoint: remoteEndpoint(shape, i), ip });
    texts.set(file, text);
    await Deno.mkdir(`${dir}/one-${c}`);
    await Deno.writeTextFile(`${dir}/one-${c}/${file}`, text);
    await Deno.writeTextFile(`${dir}/one-${c}/expect`, `${clusterIP(i)}:80 ${ip}\n`);
  }

  // (c) churn rounds: 1% of the services, every type, one remote endpoint each, from 10.(200+c).
  const perRound = Math.max(1, Math.round(shape.services / 100));
  for (let c = 1; c <= o.churn; c++) {
    await Deno.mkdir(`${dir}/churn-${c}`);
    const churned = new Set<number>();
    for (let t = 0; t < perRound; t++) {
      const i = ((7 * c) % 100 + 100 * t) % shape.services;
      const { file } = serviceKey(shape, i);
      const ip = `10.${200 + c}.${t >> 8}.${t & 255}`;
      const text = manifestText(shape, i, { endpoint: remoteEndpoint(shape, i), ip });
      texts.set(file, text);
      churned.add(i);
      await Deno.writeTextFile(`${dir}/churn-${c}/${file}`, text);
    }
    await Deno.writeTextFile(`${dir}/churn-${c}/expect`, `${churned.size}\n`);
  }
  await Deno.writeTextFile(
    `${dir}/expected-final.rules`,
    baselineInputs(planTexts(texts)).ipvsadmRules,
  );
  return { ...base.counts, byType, churnServices: perRound };
}

/** Flags of both sources. */
interface Common {
  shape: ScaleShape;
  changes: number;
  resync: number;
  prof: string;
  /** V8 flags of every kipvs run (`--v8-flags X`), for experiments. */
  v8Flags: string;
  json: string | undefined;
}

if (import.meta.main) {
  const fi = Deno.args.indexOf("--format");
  const format = fi >= 0 ? Deno.args[fi + 1] : "yaml";
  if (format !== "yaml" && format !== "json") throw new Error("--format wants yaml or json");
  const si = Deno.args.indexOf("--source");
  const source = si >= 0 ? Deno.args[si + 1] : "manifests";
  if (source !== "api" && source !== "manifests") {
    throw new Error("--source wants api or manifests");
  }
  const pi = Deno.args.indexOf("--cpu-prof");
  const ji = Deno.args.indexOf("--results");
  const vi = Deno.args.indexOf("--v8-flags");
  const common: Common = {
    shape: { services: flag("--services", 1000), endpoints: flag("--endpoints", 10), format },
    changes: flag("--changes", source === "api" ? 20 : 5),
    resync: flag("--resync", 30),
    // Every kipvs run writes a V8 CPU profile there (see bench/cpuprof_blocks.ts).
    prof: pi >= 0 ? await Deno.realPath(Deno.args[pi + 1] ?? ".") : "",
    json: ji >= 0 ? Deno.args[ji + 1] : undefined,
    v8Flags: vi >= 0 ? Deno.args[vi + 1] ?? "" : "",
  };
  await checkMapCount(common.shape.services);
  const dir = await Deno.makeTempDir({ prefix: "kipvs-scale-" });
  try {
    if (source === "api") await runApi(dir, common);
    else await runManifests(dir, common);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The results file: --results FILE, or docs/bench/results.json. */
function resultsPath(c: Common): string {
  return c.json ?? `${KIPVS_ROOT}/docs/bench/results.json`;
}

/** `--source api`: the test API server in the guest, kipvs with --kubeconfig. */
async function runApi(dir: string, c: Common): Promise<void> {
  const churnSeconds = flag("--churn-seconds", 60);
  const coldOnly = Deno.args.includes("--cold-only");
  const ai = Deno.args.indexOf("--ab");
  const variants = ai >= 0 ? abVariants(Deno.args[ai + 1] ?? "") : undefined;
  const t = performance.now();
  const data = await writeApiData({
    dir,
    shape: c.shape,
    changes: c.changes,
    churnSeconds,
    percent: 1,
  });
  const types = Object.entries(data.byType).map(([k, v]) => `${v} ${k}`).join(", ");
  console.log(
    `bench:scale --source api ${c.shape.services} services (${types}) x ${c.shape.endpoints} ` +
      `endpoints: ${data.virtualServers} virtual servers, ${data.realServers} real servers, ` +
      `${data.ipsetLines} ipset lines, ${data.addresses} addresses ` +
      `(generated in ${duration(performance.now() - t)})`,
  );
  const before = await machine();
  const ops = data.virtualServers + data.realServers;
  const runs = flag("--runs", 3);
  const script = variants ? "scale_ab_guest.sh" : "scale_api_guest.sh";
  const r = await runInGuest({
    name: "bench-scale-api",
    script: await Deno.readTextFile(`${KIPVS_ROOT}/bench/${script}`),
    env: {
      RUNS: String(runs),
      VARIANTS: (variants ?? []).join("\n"),
      DATA: dir,
      CHANGES: String(c.changes),
      CHURN_S: String(churnSeconds),
      RESYNC_S: String(c.resync),
      PROF: c.prof,
      V8FLAGS: c.v8Flags,
      COLD_ONLY: coldOnly ? "1" : "",
    },
    // A/B keeps one namespace per cold start: ~1 KiB of kernel memory per IPVS object each.
    memMiB: 2048 + Math.ceil(ops / 40) +
      (variants ? Math.ceil(ops / 1000) * variants.length * runs : 0),
    timeoutMs: (600_000 + c.resync * 1000 + ops * 12) * (variants ? variants.length * runs : 1),
  });
  assertGuestOk(r, "bench:scale");
  before.uml = bootedKernel(r.kernel, before.uml);
  if (Deno.args.includes("--verbose")) console.log(r.stdout);
  const after = await machine();
  printMachine(before, after);
  const fail = (why: string): never => {
    throw new Error(`bench:scale: ${why}\n--- guest stdout ---\n${r.stdout}`);
  };
  if (variants) return reportAb({ stdout: r.stdout, variants, fail });
  if (coldOnly) return reportCold({ stdout: r.stdout, fail });
  const figures = reportApi({ stdout: r.stdout, services: c.shape.services, fail });
  const n = (k: string, digits = 0) => Number(figures[k] ?? NaN).toFixed(digits);
  const size = c.shape.services % 1000 === 0 ? `${c.shape.services / 1000}k` : c.shape.services;
  const last = `scale${size} source=api first_sync_s=${n("first_sync_s", 1)} ` +
    `one_change_p50_ms=${n("one_change_p50_ms")} one_change_p99_ms=${n("one_change_p99_ms")} ` +
    `churn_p99_ms=${n("churn_p99_ms")} resync_writes=${n("resync_writes")} ` +
    `restart_writes=${n("restart_writes")} rss_mb=${n("rss_mb")} ` +
    `healthz_p99_ms=${n("healthz_p99_ms")}`;
  const num = (k: string) => (typeof figures[k] === "number" ? figures[k] as number : undefined);
  const phases = figures.cold_phases_ms as Record<string, number>;
  const path = await recordRun({
    path: resultsPath(c),
    before,
    source: "api",
    services: c.shape.services,
    endpoints: c.shape.endpoints,
    baseline: null,
    kipvs: {
      coldMs: (num("first_sync_s") ?? NaN) * 1000,
      startMs: phases.start,
      listMs: phases.list,
      firstSyncMs: Object.entries(phases)
        .filter(([k]) => !["start", "list", "wait"].includes(k))
        .reduce((a, [, v]) => a + v, 0),
      oneChangeMs: num("one_change_p50_ms") ?? NaN,
      oneChangeP99Ms: num("one_change_p99_ms"),
      churnP99Ms: num("churn_p99_ms"),
      churnRssStartMb: num("churn_rss_start_mb"),
      churnRssEndMb: num("churn_rss_end_mb"),
      resyncMs: num("resync_ms"),
      resyncWrites: num("resync_writes"),
      restartMs: num("restart_ms"),
      restartWrites: num("restart_writes"),
      rssMb: num("rss_mb"),
      healthzP99Ms: num("healthz_p99_ms"),
      healthzIdleP99Ms: num("healthz_idle_p99_ms"),
    },
  });
  console.log(`results: ${path} (then \`deno task bench:plot\` redraws docs/bench/scale.svg)`);
  console.log(last);
}

/** `--source manifests` (the default): one manifest file per service, against the baseline. */
async function runManifests(dir: string, c: Common): Promise<void> {
  const { shape, changes } = c;
  const runs = flag("--runs", 3);
  const churn = flag("--churn", 3);
  const baseline = !Deno.args.includes("--no-baseline");
  const t = performance.now();
  const data = await writeData({ dir, shape, changes, churn });
  const types = Object.entries(data.byType).map(([k, v]) => `${v} ${k}`).join(", ");
  console.log(
    `bench:scale ${shape.services} services (${types}) x ${shape.endpoints} endpoints ` +
      `(one ${shape.format} file each): ` +
      `${data.virtualServers} virtual servers, ${data.realServers} real servers, ` +
      `${data.ipsetLines} ipset lines, ${data.addresses} addresses ` +
      `(generated in ${duration(performance.now() - t)})`,
  );
  const before = await machine();
  const ops = data.virtualServers + data.realServers;
  const r = await runInGuest({
    name: "bench-scale",
    script: await Deno.readTextFile(`${KIPVS_ROOT}/bench/scale_guest.sh`),
    env: {
      DATA: dir,
      RUNS: String(runs),
      CHANGES: String(changes),
      CHURN: String(churn),
      BASELINE: baseline ? "1" : "0",
      RESYNC_S: String(c.resync),
      PROF: c.prof,
      RULES: rulesBackend(),
    },
    memMiB: 1024 + Math.ceil(ops / 50),
    timeoutMs: 240_000 + c.resync * 1000 + ops * 4 * runs,
  });
  assertGuestOk(r, "bench:scale");
  before.uml = bootedKernel(r.kernel, before.uml);
  if (Deno.args.includes("--verbose")) console.log(r.stdout);
  const after = await machine();
  const { figures, last } = report({ stdout: r.stdout, data, runs, before, after, baseline });
  const path = await recordRun({
    path: resultsPath(c),
    before,
    source: "manifests",
    manifestFormat: shape.format,
    services: shape.services,
    endpoints: shape.endpoints,
    runs,
    baseline: figures.baseline_ms ? { totalMs: figures.baseline_ms } : null,
    kipvs: {
      coldMs: figures.cold_ms ?? NaN,
      firstSyncMs: figures.first_sync_ms ?? NaN,
      oneChangeMs: figures.one_change_ms ?? NaN,
      restartWrites: figures.restart_writes,
      resyncMs: figures.resync_ms,
      resyncWrites: figures.resync_writes,
      rssMb: figures.rss_mb,
      healthzP99Ms: figures.healthz_p99_ms,
    },
  });
  console.log(`results: ${path} (then \`deno task bench:plot\` redraws docs/bench/scale.svg)`);
  console.log(last);
}

function printMachine(before: Machine, after: Machine): void {
  console.log(
    `machine: ${before.cpu}, ${before.cores} cores; the guest is User-Mode Linux ` +
      `${before.uml} (1 vCPU); load ${before.load} before, ${after.load} after; ` +
      `other guests running: ${before.guests} before, ${after.guests} after`,
  );
}

interface ReportOptions {
  stdout: string;
  data: DataSummary;
  runs: number;
  before: Awaited<ReturnType<typeof machine>>;
  after: Awaited<ReturnType<typeof machine>>;
  baseline: boolean;
}

function report(o: ReportOptions): { figures: Record<string, number>; last: string } {
  const f = parseGuest(o.stdout);
  check(o, f);
  printMachine(o.before, o.after);
  const coldRatio = o.baseline ? reportBaseline(o, f) : undefined;
  const lat = reportChanges(o, f);
  reportBackends(f);
  const rs = reportRestart(f);
  const healthz = reportHealthz(f);
  const v = (k: string) => f.values.get(k) ?? [];
  const rss = Math.max(...v("rss_cold_kb"), ...v("rss_run_kb"), ...v("rss_restart_kb")) / 1024;
  console.log(
    `checks: IPVS, ipsets, iptables and addresses ${
      o.baseline ? "equal in both namespaces and " : ""
    }equal to the plan (${median(v("ipvs_lines"))} IPVS lines); every edit programmed exactly`,
  );
  const ratio = coldRatio === undefined ? "" : `cold_ratio=${coldRatio.toFixed(3)} `;
  const resync = f.resync[0]!.syncs[0]!;
  return {
    figures: {
      ...(coldRatio === undefined ? {} : {
        cold_ratio: coldRatio,
        baseline_ms: coldRatio && median(f.cold.map(elapsed)) / coldRatio,
      }),
      cold_ms: median(f.cold.map(elapsed)),
      first_sync_ms: median(f.cold.map((e) => e.syncs[0]!.ms)),
      one_change_ms: median(lat),
      restart_writes: rs.writes,
      resync_ms: resync.ms,
      resync_writes: resync.writes,
      rss_mb: rss,
      healthz_p99_ms: healthz,
    },
    last: `scale ${ratio}one_change_ms=${median(lat)} restart_writes=${rs.writes} ` +
      `rss_mb=${rss.toFixed(0)} healthz_p99_ms=${healthz.toFixed(0)}`,
  };
}

/** `--rules-backend iptables|nftables` (default iptables). */
function rulesBackend(): "iptables" | "nftables" {
  const i = Deno.args.indexOf("--rules-backend");
  return i >= 0 && Deno.args[i + 1] === "nftables" ? "nftables" : "iptables";
}

/** nftables mode: its first sync against iptables mode's, on the same cluster in the same boot. */
function reportBackends(f: GuestFigures): void {
  const other = f.coldOther[0]?.syncs[0];
  if (!other) return;
  const nft = f.cold[0]!.syncs[0]!;
  const rules = (s: typeof nft) => (s.phases?.sets ?? NaN) + (s.phases?.rest ?? 0);
  console.log(
    `rules backends, first sync in the same boot: nftables ${duration(nft.ms)} ` +
      `(sets and rules ${duration(rules(nft))}, ${opsText(nft)}), iptables ${duration(other.ms)} ` +
      `(sets and rules ${duration(rules(other))}, ${opsText(other)}): ` +
      `nft_first_sync_ratio=${(nft.ms / other.ms).toFixed(3)}`,
  );
}

/** Fails the benchmark when the kernel did not end up holding what it should. */
function check(o: ReportOptions, f: GuestFigures): void {
  const med = (k: string) => median(f.values.get(k) ?? []);
  const fail = (why: string) => {
    throw new Error(`bench:scale: ${why}\n--- guest stdout ---\n${o.stdout}`);
  };
  // nftables mode holds no ipset and no iptables rule: IPVS and addresses are compared.
  const same = !o.baseline
    ? []
    : rulesBackend() === "nftables"
    ? ["same_ipvs", "same_addr"]
    : ["same_ipvs", "same_ipset", "same_iptables", "same_addr"];
  for (const k of [...same, "same_plan"]) {
    if (med(k) !== 1) fail(`${k}: kipvs and the baseline (or the plan) disagree`);
  }
  if ((f.values.get("change_ok") ?? []).some((x) => x !== 1)) {
    fail("a single change was not programmed");
  }
  if ((f.values.get("churn_ok") ?? []).some((x) => x !== 1)) {
    fail("a churn round was not programmed exactly");
  }
  if (med("same_final") !== 1) fail("after the edits, the kernel is not the plan of the files");
  if (f.cold.length !== o.runs || f.restart.length !== 1 || f.resync.length !== 1) {
    fail("missing cold, restart or resync figures");
  }
}

/** The baseline and the cold starts against it; returns cold_ratio. */
function reportBaseline(o: ReportOptions, f: GuestFigures): number {
  const v = (k: string) => f.values.get(k) ?? [];
  const med = (k: string) => median(v(k));
  const baseParts = ["base_ipvsadm_ms", "base_ipset_ms", "base_iptables_ms"];
  const baseRuns = v("base_ipvsadm_ms").map((_, i) =>
    baseParts.reduce((s, k) => s + (v(k)[i] ?? NaN), 0)
  );
  const base = median(baseRuns);
  const baseAddr = median(baseRuns.map((x, i) => x + (v("base_addresses_ms")[i] ?? NaN)));
  console.log(
    `baseline  ${duration(base)} (median of ${all(baseRuns)}): ipvsadm -R ${
      duration(med("base_ipvsadm_ms"))
    } (${o.data.virtualServers + o.data.realServers} rules), ipset restore ${
      duration(med("base_ipset_ms"))
    } (${o.data.ipsetLines} lines), iptables-legacy-restore x2 ${
      duration(med("base_iptables_ms"))
    }; apart: ip -batch ${duration(med("base_addresses_ms"))} (${o.data.addresses} addresses)`,
  );
  const cold = median(f.cold.map(elapsed));
  const firstSync = median(f.cold.map((e) => e.syncs[0]!.ms));
  const coldRatio = cold / base;
  console.log(
    `    cold_ratio kipvs/baseline=${coldRatio.toFixed(3)} ` +
      `(baseline with the addresses: ${(cold / baseAddr).toFixed(3)}); ` +
      `the programming alone (first sync ${duration(firstSync)}, no start, no reading): ` +
      `sync_ratio=${(firstSync / base).toFixed(3)}`,
  );
  return coldRatio;
}

/** (a) cold starts, (b) single changes, (c) churn; returns the single changes' latencies. */
function reportChanges(o: ReportOptions, f: GuestFigures): number[] {
  const cold = f.cold.map(elapsed);
  console.log(
    `(a) cold  ${duration(median(cold))} (median of ${all(cold)}; Deno's start alone ${
      duration(median(f.values.get("deno_start_ms") ?? []))
    }): ${opsText(f.cold[0]!.syncs[0]!)}`,
  );
  f.cold.forEach((e, i) =>
    console.log(`    run ${i + 1}: ${breakdown(e.t0, f.reads.cold[i]?.read, e.syncs[0]!)}`)
  );
  const lat = f.changes.map((e) => e.syncs[0]!.latencyMs ?? NaN);
  const e2e = f.changes.map(elapsed);
  console.log(
    `(b) one endpoint change: seen->programmed ${duration(median(lat))} (median of ${all(lat)}), ` +
      `sync ${duration(median(f.changes.map((e) => e.syncs[0]!.ms)))}, rename->programmed ${
        duration(median(e2e))
      } (the file event, the source's 5 ms settle and its read of the file included)`,
  );
  for (const e of f.changes) console.log(`    ${opsText(e.syncs[0]!)}`);
  const rounds = [...f.churn.values()];
  console.log(
    `(c) 1% churn (${o.data.churnServices} services per round): seen->programmed ${
      duration(median(rounds.map((e) => sumSyncs(e.syncs).latencyMs ?? NaN)))
    }, syncs ${duration(median(rounds.map((e) => sumSyncs(e.syncs).ms)))}, rename->programmed ${
      duration(median(rounds.map(elapsed)))
    }`,
  );
  for (const e of rounds) {
    console.log(`    ${e.syncs.length} sync(s): ${opsText(sumSyncs(e.syncs))}`);
  }
  return lat;
}

/** (d) restart, (e) RSS, (f) resync, and the metrics; returns the restart's first sync. */
function reportRestart(f: GuestFigures): SyncedLine {
  const mb = (k: string) => (median(f.values.get(k) ?? []) / 1024).toFixed(0);
  const restart = f.restart[0]!;
  const rs = restart.syncs[0]!;
  console.log(
    `(d) restart, nothing changed: ${duration(elapsed(restart))} to the first sync done: ` +
      opsText(rs),
  );
  console.log(`    ${breakdown(restart.t0, f.reads.restart[0]?.read, rs)}`);
  console.log(
    `(e) peak RSS (VmHWM): cold start ${mb("rss_cold_kb")} MB, after the edits ` +
      `${mb("rss_run_kb")} MB, restart ${mb("rss_restart_kb")} MB`,
  );
  const resync = f.resync[0]!.syncs[0]!;
  const phases = Object.entries(resync.phases ?? {}).map(([k, v]) => `${k} ${duration(v)}`);
  console.log(
    `(f) periodic full resync, nothing changed: ${duration(resync.ms)} (${phases.join(", ")}): ` +
      opsText(resync),
  );
  const buckets = f.metrics.filter((l) =>
    /network_programming_duration_seconds_bucket\{le="0\.0\d*"\} [1-9]/.test(l)
  );
  console.log(`metrics: ${buckets.slice(0, 12).join("; ")}`);
  return rs;
}

/**
 * (g) the healthz probe during the cold starts (process start to first sync done) and during
 * the resync (its sync alone); returns the p99 over both windows.
 */
function reportHealthz(f: GuestFigures): number {
  const cold = f.cold.map((e) => [e.t0, e.t0 + elapsed(e)] as const);
  const sync = f.resync[0]!.syncs[0]!;
  const end = Date.parse(sync.ts);
  const resync = [end - sync.ms, end] as const;
  const inCold = f.probes.filter((p) => cold.some(([a, b]) => p.at >= a && p.at <= b));
  const coldW = probeWindow(inCold, -Infinity, Infinity);
  const resyncW = probeWindow(f.probes, resync[0], resync[1]);
  console.log(`(g) /healthz every 50 ms: during the cold starts ${probeText(coldW)}`);
  console.log(`    during the resync ${probeText(resyncW)}`);
  const both = probeWindow(
    [
      ...inCold,
      ...f.probes.filter((p) => p.at >= resync[0] && p.at <= resync[1]),
    ],
    -Infinity,
    Infinity,
  );
  return both.p99;
}

/**
 * User-Mode Linux maps a guest process's pages into a host process one area at a time: a guest
 * process with a heap of hundreds of MB (the API server and kipvs at 50,000 services) needs more
 * than the host's default 65,530 maps, and the guest then halts ("UML ran out of memory on the
 * host side"). `make setup` raises the limit when run as root; this says so before hours are spent.
 */
async function checkMapCount(services: number): Promise<void> {
  const want = 1_048_576;
  const have = Number(await Deno.readTextFile("/proc/sys/vm/max_map_count").catch(() => "0"));
  if (services < 20_000 || have >= want) return;
  throw new Error(
    `bench:scale at ${services} services needs vm.max_map_count >= ${want} on the host ` +
      `(it is ${have}): run 'make setup' as root, or 'sysctl -w vm.max_map_count=${want}'`,
  );
}
