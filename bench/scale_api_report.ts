/**
 * The figures of `deno task bench:scale --source api`, from what bench/scale_api_guest.sh
 * printed: printed for people, returned for the JSON results file (see
 * scale_record.ts), and the last line
 * `scale50k source=api first_sync_s=<x> one_change_p50_ms=<a> one_change_p99_ms=<b>
 * churn_p99_ms=<c> resync_writes=<n> restart_writes=<m> rss_mb=<r> healthz_p99_ms=<h>`.
 *
 * @module
 */

import {
  duration,
  elapsed,
  type GuestFigures,
  median,
  opsText,
  parseGuest,
  probeText,
  probeWindow,
  quantile,
  type SyncedLine,
} from "./scale_report.ts";

/** The kube source's "cluster state listed" line after the event that started at `t0`. */
function listed(stdout: string, event: "cold" | "restart"): { t0: number; ts: number; ms: number } {
  const m = new RegExp(`^@${event}list (\\d+) (\\{.*\\})$`, "m").exec(stdout);
  if (!m) return { t0: NaN, ts: NaN, ms: NaN };
  const line = JSON.parse(m[2]!) as { ts: string; tookMs: number };
  return { t0: Number(m[1]), ts: Date.parse(line.ts), ms: line.tookMs };
}

/** "start 2.1 s, list 20.3 s, wait 0.2 s, sync 30.1 s (plan ..., ...)" of a cold start. */
function phases(
  l: { t0: number; ts: number; ms: number },
  sync: SyncedLine,
): Record<string, number> {
  const syncStart = Date.parse(sync.ts) - sync.ms;
  return {
    start: l.ts - l.ms - l.t0,
    list: l.ms,
    wait: syncStart - l.ts,
    ...Object.fromEntries(Object.entries(sync.phases ?? {})),
  };
}

const phasesText = (p: Record<string, number>) =>
  Object.entries(p).map(([k, v]) => `${k} ${duration(v)}`).join(", ");

/** CPU time (user + system, ms) and minor page faults of a /proc/PID/stat line. */
function procStat(line: string | undefined): { cpuMs: number; faults: number } {
  const f = (line ?? "").split(") ")[1]?.split(" ") ?? [];
  return { cpuMs: (Number(f[11]) + Number(f[12])) * 10, faults: Number(f[7]) };
}

/** `--cold-only`: the cold start's phases, kipvs's CPU time and faults, and the server's CPU time. */
export function reportCold(o: { stdout: string; fail: (why: string) => never }): void {
  const f = parseGuest(o.stdout);
  if (median(f.values.get("same_plan") ?? []) !== 1) {
    o.fail("the first sync's IPVS table is not the plan's");
  }
  const cold = f.cold[0];
  if (!cold) o.fail("missing cold figures");
  const p = phases(listed(o.stdout, "cold"), cold!.syncs[0]!);
  console.log(`(a) cold start ${duration(elapsed(cold!))}: ${phasesText(p)}`);
  console.log(`    ${opsText(cold!.syncs[0]!)}`);
  console.log(`    ${coldCpuText(o.stdout, median(f.values.get("rss_cold_kb") ?? []))}`);
}

/**
 * kipvs's CPU time and faults over its cold start, and the test API server's CPU time meanwhile
 * (it shares the guest's one CPU: its part of the list phase is not kipvs's).
 */
function coldCpuText(stdout: string, rssKb: number): string {
  const line = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(stdout)?.[1];
  const k = procStat(line("cold_stat"));
  const api = procStat(line("api_stat_after")).cpuMs - procStat(line("api_stat_before")).cpuMs;
  return `kipvs: cpu ${duration(k.cpuMs)}, ${k.faults} minor faults; ` +
    `API server cpu meanwhile ${duration(api)}; rss ${rssKb / 1024 | 0} MB`;
}

/** Jiffies (10 ms) of the guest's CPU by kind, from /proc/stat's first line. */
function guestCpu(line: string | undefined): { busyMs: number; idleMs: number } {
  const f = (line ?? "").trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? NaN) + (f[4] ?? 0);
  return { busyMs: (f.reduce((a, b) => a + b, 0) - idle) * 10, idleMs: idle * 10 };
}

/**
 * Where the guest's one CPU went from the churn's start until kipvs had programmed its last
 * edit: kipvs, the API server (which makes the edits and streams them), the rest, and idle.
 */
function churnCpuText(stdout: string): string {
  const line = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(stdout)?.[1];
  const k = procStat(line("churn_kstat_end")).cpuMs - procStat(line("churn_kstat_start")).cpuMs;
  const a = procStat(line("churn_astat_end")).cpuMs - procStat(line("churn_astat_start")).cpuMs;
  const g0 = guestCpu(line("churn_cpu_start"));
  const g1 = guestCpu(line("churn_cpu_end"));
  const busy = g1.busyMs - g0.busyMs;
  return `CPU from the churn's start to its last edit programmed: kipvs ${duration(k)}, ` +
    `API server ${duration(a)}, the rest ${duration(busy - k - a)}, idle ${
      duration(g1.idleMs - g0.idleMs)
    }`;
}

/** Options of {@link reportApi}. */
export interface ApiReportOptions {
  stdout: string;
  services: number;
  fail: (why: string) => never;
}

/** Prints the API benchmark's figures and returns them. */
export function reportApi(o: ApiReportOptions): Record<string, number | Record<string, number>> {
  const f = parseGuest(o.stdout);
  const v = (k: string) => f.values.get(k) ?? [];
  if (median(v("same_plan")) !== 1) o.fail("the first sync's IPVS table is not the plan's");
  if (median(v("same_final")) !== 1) o.fail("after the edits, the IPVS table is not the plan's");
  if (f.cold.length !== 1 || f.restart.length !== 1 || f.resync.length !== 1) {
    o.fail("missing cold, restart or resync figures");
  }
  const cold = f.cold[0]!;
  const coldPhases = phases(listed(o.stdout, "cold"), cold.syncs[0]!);
  console.log(`(a) cold start ${duration(elapsed(cold))}: ${phasesText(coldPhases)}`);
  console.log(`    ${opsText(cold.syncs[0]!)}`);
  console.log(`    ${coldCpuText(o.stdout, median(v("rss_cold_kb")))}`);
  const one = f.changes.map((e) => e.syncs[0]!.latencyMs ?? NaN);
  const oneWrites = f.changes.map((e) => e.syncs[0]!.writes);
  console.log(
    `(b) ${one.length} single endpoint changes, seen->programmed: p50 ${
      duration(quantile(one, 0.5))
    }, p99 ${duration(quantile(one, 0.99))}, max ${duration(Math.max(...one))}; ` +
      `writes per change ${median(oneWrites)} (${opsText(f.changes[0]!.syncs[0]!)})`,
  );
  const churn = f.churn.get(1)?.syncs ?? [];
  const churnLat = churn.map((s) => s.latencyMs ?? NaN).filter((x) => !Number.isNaN(x));
  const rss = (k: string) => median(v(k)) / 1024;
  const replanned = churn.reduce((n, s) => n + s.services, 0);
  const edits = [...o.stdout.matchAll(/^@api @edit churn\d+:(\d+) (\d+)$/gm)];
  const editSpan = edits.length > 1 ? Number(edits.at(-1)![2]) - Number(edits[0]![2]) : NaN;
  console.log(
    `    ${edits.length} rounds of edits made over ${duration(editSpan)} by the API server; ` +
      `kipvs replanned ${replanned} services in them and was done ` +
      `${duration(median(v("churn_settled_ms")))} after the churn began`,
  );
  console.log(
    `(c) 1% churn per second: ${churn.length} syncs, seen->programmed p50 ${
      duration(quantile(churnLat, 0.5))
    }, p99 ${duration(quantile(churnLat, 0.99))}; RSS ${rss("rss_churn_start_kb").toFixed(0)} MB ` +
      `at its start, ${rss("rss_churn_end_kb").toFixed(0)} MB at its end`,
  );
  console.log(`    ${churnCpuText(o.stdout)}`);
  const restart = f.restart[0]!;
  const rs = restart.syncs[0]!;
  const restartPhases = phases(listed(o.stdout, "restart"), rs);
  console.log(
    `(d) restart, nothing changed: ${duration(elapsed(restart))} to adopted (${
      phasesText(restartPhases)
    }): ${opsText(rs)}`,
  );
  const resync = f.resync[0]!.syncs[0]!;
  console.log(
    `(f) full resync, nothing changed: ${duration(resync.ms)} (${
      phasesText(resync.phases ?? {})
    }): ${opsText(resync)}`,
  );
  const peak = Math.max(...v("rss_cold_kb"), ...v("rss_run_kb"), ...v("rss_restart_kb")) / 1024;
  console.log(
    `(e) peak RSS (VmHWM) ${peak.toFixed(0)} MB; the API server ${
      (median(v("api_rss_kb")) / 1024).toFixed(0)
    } MB after loading, ${(median(v("api_rss_end_kb")) / 1024).toFixed(0)} MB at the end`,
  );
  const healthz = healthzWindows(f);
  return {
    first_sync_s: elapsed(cold) / 1000,
    cold_phases_ms: coldPhases,
    one_change_p50_ms: quantile(one, 0.5),
    one_change_p99_ms: quantile(one, 0.99),
    one_change_writes: median(oneWrites),
    churn_syncs: churn.length,
    churn_p99_ms: quantile(churnLat, 0.99),
    churn_settled_ms: median(v("churn_settled_ms")),
    churn_rss_start_mb: rss("rss_churn_start_kb"),
    churn_rss_end_mb: rss("rss_churn_end_kb"),
    resync_ms: resync.ms,
    resync_writes: resync.writes,
    restart_ms: elapsed(restart),
    restart_writes: rs.writes,
    rss_mb: peak,
    healthz_p99_ms: healthz.p99,
    healthz_idle_p99_ms: healthz.idleP99,
  };
}

/** The probe during the cold start and the resync; returns the p99 over both. */
function healthzWindows(f: GuestFigures): { p99: number; idleP99: number } {
  const cold = f.cold[0]!;
  const coldW = probeWindow(f.probes, cold.t0, cold.t0 + elapsed(cold));
  const sync = f.resync[0]!.syncs[0]!;
  const end = Date.parse(sync.ts);
  const resyncW = probeWindow(f.probes, end - sync.ms, end);
  console.log(`(g) /healthz every 50 ms: during the cold start ${probeText(coldW)}`);
  console.log(`    during the resync ${probeText(resyncW)}`);
  const idleFrom = f.values.get("idle_from")?.[0];
  const idleTo = f.values.get("idle_to")?.[0];
  let idleP99 = NaN;
  if (idleFrom !== undefined && idleTo !== undefined) {
    const idle = probeWindow(f.probes, idleFrom, idleTo);
    console.log(`    with kipvs idle (the guest's floor) ${probeText(idle)}`);
    idleP99 = idle.p99;
  }
  const inside = f.probes.filter((p) =>
    (p.at >= cold.t0 && p.at <= cold.t0 + elapsed(cold)) || (p.at >= end - sync.ms && p.at <= end)
  );
  return { p99: probeWindow(inside, -Infinity, Infinity).p99, idleP99 };
}
