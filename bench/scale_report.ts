/**
 * Reading what bench/scale_guest.sh printed and turning it into the figures of
 * `deno task bench:scale`: medians, operation counts, ratios kipvs/baseline, and the last line
 * `scale cold_ratio=<x> one_change_ms=<t> restart_writes=<n> rss_mb=<m>`.
 *
 * @module
 */

/** One "synced" log line of kipvs (JSON), the fields the report uses. */
export interface SyncedLine {
  ts: string;
  full: boolean;
  services: number;
  ipvsOps: number;
  netlinkMessages: number;
  addressesAdded: number;
  addressesRemoved: number;
  ipsetRestores: number;
  ipsetEntries: number;
  iptablesRestores: number;
  /** Programs run during the sync (ipset, iptables-save/restore, conntrack). */
  processes?: number;
  writes: number;
  /** Duration of the sync itself. */
  ms: number;
  /** From the source seeing the change to programmed (absent for syncs without a change). */
  latencyMs?: number;
  /** Where the sync's time went, ms (plan, addresses, ipvs, sets, rest). */
  phases?: Record<string, number>;
}

/** The manifest source's "read manifests" line: when it finished reading, and how long it took. */
export interface ReadLine {
  ts: string;
  ms: number;
  files: number;
}

/** A timed event: when the guest started it (ms since epoch) and the syncs it caused. */
export interface Event {
  t0: number;
  syncs: SyncedLine[];
}

/** One request of the healthz probe. */
export interface Probe {
  /** When it started, ms since epoch. */
  at: number;
  ms: number;
  /** HTTP status; 0 failed or timed out; -1 refused (nothing listening yet). */
  status: number;
}

/** Everything the guest printed, parsed. */
export interface GuestFigures {
  /** key=value figures, every value of each key in order. */
  values: Map<string, number[]>;
  cold: Event[];
  /** nftables mode: the first sync of iptables mode in the same boot (bench:scale --rules-backend). */
  coldOther: Event[];
  changes: Event[];
  /** Churn rounds, by round number. */
  churn: Map<number, Event>;
  restart: Event[];
  /** The periodic full resync after the restart, nothing changed. */
  resync: Event[];
  /** Requests of the healthz probe (bench/healthz_poll.py), in the order they started. */
  probes: Probe[];
  /** The source's initial read of each cold start and of the restart, with the event's start. */
  reads: { cold: { t0: number; read: ReadLine }[]; restart: { t0: number; read: ReadLine }[] };
  /** Metric lines scraped from /metrics. */
  metrics: string[];
}

/** Parses the guest's standard output. */
export function parseGuest(stdout: string): GuestFigures {
  const f: GuestFigures = {
    values: new Map(),
    cold: [],
    coldOther: [],
    changes: [],
    churn: new Map(),
    restart: [],
    resync: [],
    probes: [],
    reads: { cold: [], restart: [] },
    metrics: [],
  };
  for (const line of stdout.split("\n")) {
    const rd = /^@(cold|restart)read (\d+) (\{.*\})$/.exec(line);
    if (rd) {
      f.reads[rd[1] as "cold" | "restart"].push({
        t0: Number(rd[2]),
        read: JSON.parse(rd[3]!) as ReadLine,
      });
      continue;
    }
    const pr = /^@probe \S+ (\d+) ([\d.]+) (-?\d+)$/.exec(line);
    if (pr) {
      f.probes.push({ at: Number(pr[1]), ms: Number(pr[2]), status: Number(pr[3]) });
      continue;
    }
    const ev = /^@(cold|coldother|change|churn(\d+)|restart|resync) (\d+) (\{.*\})$/.exec(line);
    if (ev) {
      const sync = JSON.parse(ev[4]!) as SyncedLine;
      const t0 = Number(ev[3]);
      if (ev[2] !== undefined) {
        const round = Number(ev[2]);
        const e = f.churn.get(round) ?? { t0, syncs: [] };
        e.syncs.push(sync);
        f.churn.set(round, e);
      } else {
        const lists = {
          cold: f.cold,
          coldother: f.coldOther,
          change: f.changes,
          restart: f.restart,
          resync: f.resync,
        };
        lists[ev[1] as keyof typeof lists].push({ t0, syncs: [sync] });
      }
      continue;
    }
    if (line.startsWith("@metric ")) {
      f.metrics.push(line.slice("@metric ".length));
      continue;
    }
    for (const m of line.matchAll(/\b(\w+)=(-?\d+(?:\.\d+)?)\b/g)) {
      const list = f.values.get(m[1]!) ?? [];
      list.push(Number(m[2]));
      f.values.set(m[1]!, list);
    }
  }
  return f;
}

/** The median (the lower middle of an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
}

/** The value below which `q` (0..1) of `xs` lie (nearest rank); NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

/** What the healthz probe saw in one window of time. */
export interface ProbeWindow {
  /** Requests answered or failed (refused ones are not counted: nothing listened yet). */
  count: number;
  refused: number;
  /** Requests that got no answer (timeout, reset) or one other than 200. */
  failed: number;
  p50: number;
  p99: number;
  max: number;
}

/** The probe's requests that started in `[from, to]` (ms since epoch), summed up. */
export function probeWindow(probes: readonly Probe[], from: number, to: number): ProbeWindow {
  const inside = probes.filter((p) => p.at >= from && p.at <= to);
  const answered = inside.filter((p) => p.status !== -1);
  const ms = answered.map((p) => p.ms);
  return {
    count: answered.length,
    refused: inside.length - answered.length,
    failed: answered.filter((p) => p.status !== 200).length,
    p50: quantile(ms, 0.5),
    p99: quantile(ms, 0.99),
    max: ms.length ? Math.max(...ms) : NaN,
  };
}

/** "p50 2.1 ms, p99 40.2 ms, max 61.0 ms (312 requests, 0 failed, 41 refused before listening)" */
export function probeText(w: ProbeWindow): string {
  return `p50 ${duration(w.p50)}, p99 ${duration(w.p99)}, max ${duration(w.max)} ` +
    `(${w.count} requests, ${w.failed} failed, ${w.refused} refused before listening)`;
}

/** Milliseconds from an event's start to the end of its last sync. */
export function elapsed(e: Event): number {
  const last = e.syncs[e.syncs.length - 1];
  return last ? Date.parse(last.ts) - e.t0 : NaN;
}

/** The counts {@link sumSyncs} adds up. */
const COUNTS = [
  "services",
  "ipvsOps",
  "netlinkMessages",
  "addressesAdded",
  "addressesRemoved",
  "ipsetRestores",
  "ipsetEntries",
  "iptablesRestores",
  "writes",
  "ms",
] as const;

/** The operation counts of some syncs, summed. */
export function sumSyncs(syncs: readonly SyncedLine[]): SyncedLine {
  const out: SyncedLine = {
    ts: syncs[syncs.length - 1]?.ts ?? "",
    full: syncs.some((s) => s.full),
    services: 0,
    ipvsOps: 0,
    netlinkMessages: 0,
    addressesAdded: 0,
    addressesRemoved: 0,
    ipsetRestores: 0,
    ipsetEntries: 0,
    iptablesRestores: 0,
    processes: 0,
    writes: 0,
    ms: 0,
  };
  for (const s of syncs) {
    for (const k of COUNTS) out[k] += s[k];
    out.processes = (out.processes ?? 0) + (s.processes ?? NaN);
    out.latencyMs = Math.max(out.latencyMs ?? 0, s.latencyMs ?? 0);
  }
  return out;
}

/** "ipvsOps=2 netlink=4 ..." for one sync or a sum of syncs. */
export function opsText(s: SyncedLine): string {
  const proc = s.processes === undefined || Number.isNaN(s.processes) ? "?" : s.processes;
  return `ipvsOps=${s.ipvsOps} netlinkMessages=${s.netlinkMessages} ` +
    `addresses=+${s.addressesAdded}/-${s.addressesRemoved} ipsetRestores=${s.ipsetRestores} ` +
    `ipsetEntries=${s.ipsetEntries} iptablesRestores=${s.iptablesRestores} processes=${proc} ` +
    `writes=${s.writes}`;
}

/** "1.23 s" or "45.6 ms". */
export function duration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

/** Values of a list as "a b c" in the unit of {@link duration}. */
export function all(xs: readonly number[]): string {
  return xs.map(duration).join(", ");
}

/**
 * "start 0.95 s, read 10000 files 5.22 s, sync 5.51 s (plan 1.56 s, ...)": where a cold start or
 * a restart spent its time, from the process start `t0` to its first sync done.
 */
export function breakdown(t0: number, read: ReadLine | undefined, sync: SyncedLine): string {
  const parts: string[] = [];
  if (read) {
    const readEnd = Date.parse(read.ts);
    parts.push(`start+sysctls ${duration(readEnd - read.ms - t0)}`);
    parts.push(`read ${read.files} files ${duration(read.ms)}`);
  }
  const phases = Object.entries(sync.phases ?? {}).map(([k, v]) => `${k} ${duration(v)}`);
  parts.push(`first sync ${duration(sync.ms)}${phases.length ? ` (${phases.join(", ")})` : ""}`);
  return parts.join(", ");
}
