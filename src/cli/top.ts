/**
 * `kipvs top`: live traffic per Service from IPVS's own counters and rate estimates, by
 * namespace/service:port (names from a source, or from kube-proxy's sets as `dump` has them),
 * refreshed every `--interval`. On a terminal it redraws one screen (keys: q quit, e real
 * servers, s / S next / previous sort column); piped, it prints one snapshot after another;
 * `--once` prints one; `-o json` prints one JSON document per line.
 *
 * @module
 */

import { type Command, Option } from "commander";
import { KipvsError } from "../errors.ts";
import { parseDuration } from "../config/duration.ts";
import type { ProxyConfig } from "../config/config.ts";
import type { InterfaceAddress } from "../plan/nodeports.ts";
import type { DesiredState } from "../plan/desired.ts";
import type { ClusterState } from "../source/source.ts";
import { type DiagDataplane, openKernelDataplane } from "../diag/dataplane.ts";
import { excludedBy } from "../diag/diff.ts";
import { checkFilter, type DumpFilter } from "../diag/dump.ts";
import { planNode } from "../diag/plan.ts";
import { stdoutWantsColor } from "../diag/table.ts";
import { buildTop, TOP_SORT_KEYS, type TopReport, type TopSortKey } from "../diag/top.ts";
import { topText } from "../diag/top_text.ts";
import { SystemExec } from "../dataplane/exec.ts";
import { addSourceFlags, type Deliver, diagSetup } from "./dump.ts";
import type { CommandResult } from "./result.ts";
import { addProxyFlags } from "./runflags.ts";
import { processScreen, type Screen } from "./screen.ts";

/** Options of `kipvs top`. */
export interface TopCommandOptions {
  once: boolean;
  output: "table" | "json";
  intervalMs: number;
  sort: TopSortKey;
  endpoints: boolean;
  filter: DumpFilter;
  config: ProxyConfig;
  color: boolean;
}

/** What `kipvs top` reads and where it writes, so tests can hand it fakes. */
export interface TopDeps {
  openDataplane(): Promise<DiagDataplane>;
  interfaces(): readonly InterfaceAddress[];
  loadCluster?: () => Promise<ClusterState>;
  /** Writes to stdout as the view goes (a live view prints before it returns). */
  write(s: string): void;
  /** The terminal, when stdout is one and the view is live. */
  screen?: () => Screen | undefined;
  /** Resolves when the view must end (SIGINT, SIGTERM). */
  stop: Promise<unknown>;
  /** Now, for the heading. */
  now?: () => Date;
}

/** `--interval`: a Go duration ("2s", "500ms") or seconds ("2", "0.5"), at least 100 ms. */
export function parseInterval(value: string): number {
  const ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : parseDuration(value);
  if (ms === undefined || !(ms >= 100)) {
    throw new KipvsError(
      "usage",
      `--interval: "${value}" is not a duration of at least 100ms (e.g. 2s, 500ms, 1)`,
    );
  }
  return ms;
}

/** Reads the IPVS table (with counters) and, without a plan, kube-proxy's sets: one report. */
async function snapshot(
  dp: DiagDataplane,
  desired: DesiredState | undefined,
  o: TopCommandOptions,
  sort: TopSortKey,
): Promise<TopReport> {
  // The error names the cause ("is the ip_vs module loaded?", no permission).
  if (dp.ipvs instanceof Error) throw dp.ipvs;
  const entries = await dp.ipvs.readAll();
  const ipsets = desired ? new Map() : await dp.ipset.save();
  return buildTop({
    entries,
    ipsets,
    sort,
    filter: o.filter,
    excluded: excludedBy(o.config.excludeCIDRs),
    ...(desired ? { desired } : {}),
  });
}

/** The view's state that keys change. */
interface ViewState {
  sort: TopSortKey;
  endpoints: boolean;
}

function heading(r: TopReport, o: TopCommandOptions, v: ViewState, now: Date): string {
  const time = now.toISOString().replace("T", " ").slice(0, 19);
  const every = o.once ? "" : `, every ${o.intervalMs / 1000} s`;
  const names = r.source === "plan" ? "names from the source" : "names from kube-proxy's ipsets";
  return `kipvs top  ${time} UTC${every}  ${r.rows.length} service port(s) by ${v.sort}` +
    ` (${names})\n`;
}

const KEYS = "keys: q quit  e real servers  s/S sort column\n";

/** Applies one key to the view; returns false for a key that ends it. */
function pressKey(key: string, v: ViewState): boolean {
  if (key === "q" || key === "\x03" || key === "\x04") return false;
  const i = TOP_SORT_KEYS.indexOf(v.sort);
  const n = TOP_SORT_KEYS.length;
  if (key === "e") v.endpoints = !v.endpoints;
  else if (key === "s") v.sort = TOP_SORT_KEYS[(i + 1) % n]!;
  else if (key === "S") v.sort = TOP_SORT_KEYS[(i + n - 1) % n]!;
  return true;
}

/** Runs `kipvs top`; returns when `--once` printed, or a key or signal ended the view. */
export async function topCommand(o: TopCommandOptions, deps: TopDeps): Promise<CommandResult> {
  checkFilter(o.filter, deps.loadCluster !== undefined);
  const state = await deps.loadCluster?.();
  const desired = state
    ? planNode({ state, config: o.config, interfaces: deps.interfaces() })
    : undefined;
  const dp = await deps.openDataplane();
  const live = !o.once && o.output === "table";
  const screen = live ? deps.screen?.() : undefined;
  const view: ViewState = { sort: o.sort, endpoints: o.endpoints };
  const now = deps.now ?? (() => new Date());
  let stopped = false;
  const stop = deps.stop.then(() => void (stopped = true));
  try {
    while (!stopped) {
      const report = await snapshot(dp, desired, o, view.sort);
      if (o.output === "json") {
        deps.write(JSON.stringify({ time: now().toISOString(), ...report }) + "\n");
      } else {
        const maxLines = screen ? screen.rows() - 3 : undefined;
        const body = heading(report, o, view, now()) +
          topText(report, { endpoints: view.endpoints, color: o.color, maxLines });
        if (screen) screen.draw(body + KEYS);
        else deps.write(body + (o.once ? "" : "\n"));
      }
      if (o.once) break;
      if (!await wait(o.intervalMs, screen, view, stop)) break;
    }
  } finally {
    screen?.close();
    dp.close();
  }
  return { code: 0, stdout: "" };
}

/** Waits out the interval; a key redraws at once. False when a key or a signal ends the view. */
async function wait(
  ms: number,
  screen: Screen | undefined,
  view: ViewState,
  stop: Promise<void>,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = new Promise<"tick">((r) => timer = setTimeout(() => r("tick"), ms));
  try {
    const next = await Promise.race([
      tick,
      stop.then(() => "stop" as const),
      ...(screen ? [screen.key()] : []),
    ]);
    if (next === "stop") return false;
    return next === "tick" || pressKey(next, view);
  } finally {
    clearTimeout(timer);
  }
}

/** Registers `kipvs top`. */
export function registerTop(
  program: Command,
  deliver: Deliver,
  io: { write(s: string): void; stop(): Promise<unknown> },
): void {
  addSourceFlags(addProxyFlags(
    program.command("top").description(
      "live traffic per service port from IPVS's counters (q quits, e shows real servers)",
    ),
  ))
    .option("--interval <duration>", "refresh this often (e.g. 2s, 500ms)", "2s")
    .option("--once", "print one snapshot and exit", false)
    .option("--endpoints", "show each service port's real servers", false)
    .addOption(
      new Option("--sort <column>", "sort by this column (busiest first)")
        .choices([...TOP_SORT_KEYS]).default("cps"),
    )
    .addOption(
      new Option("-o, --output <format>", "output").choices(["table", "json"]).default("table"),
    )
    .option("-n, --namespace <namespace>", "only services of this namespace")
    .option("--service <name>", "only this service (name or namespace/name)")
    .action(async (o, cmd: Command) => {
      const intervalMs = parseInterval(o.interval);
      const { config, loader } = await diagSetup(o, cmd);
      const exec = new SystemExec();
      await deliver(topCommand({
        once: o.once,
        output: o.output,
        intervalMs,
        sort: o.sort,
        endpoints: o.endpoints,
        filter: { namespace: o.namespace, service: o.service },
        config,
        color: o.output === "table" && stdoutWantsColor(),
      }, {
        openDataplane: () => openKernelDataplane(exec, config.iptablesBackend),
        interfaces: () => Deno.networkInterfaces(),
        ...(loader ? { loadCluster: loader } : {}),
        write: io.write,
        screen: () => processScreen(io.write),
        stop: io.stop(),
      }));
    });
}
