/**
 * `kipvs dump [--diff]`: what is programmed on this node, mapped back to namespace/service:port,
 * or (with `--diff` and a source) what a sync would change. Reads only.
 *
 * @module
 */

import { type Command, Option } from "commander";
import { KipvsError } from "../errors.ts";
import { SystemExec } from "../dataplane/exec.ts";
import { SysctlProgram } from "../dataplane/sysctl/io.ts";
import { checkSysctls, type SysctlVerdict } from "../dataplane/sysctl/reconcile.ts";
import { wantedSettings } from "../dataplane/sysctl/settings.ts";
import { formatRules } from "../dataplane/ipvs/rules.ts";
import { Logger, type LogLevel } from "../log.ts";
import type { ProxyConfig } from "../config/config.ts";
import type { InterfaceAddress } from "../plan/nodeports.ts";
import type { ClusterState } from "../source/source.ts";
import { type DiagDataplane, openKernelDataplane } from "../diag/dataplane.ts";
import { diffNode, excludedBy } from "../diag/diff.ts";
import { diffText } from "../diag/diff_text.ts";
import { parseBindAddress } from "../observe/http.ts";
import type { HealthBody } from "../observe/proxyhealth.ts";
import {
  type AgentView,
  buildDump,
  checkFilter,
  dumpEntries,
  type DumpFilter,
  type DumpReport,
} from "../diag/dump.ts";
import { dumpText } from "../diag/dump_text.ts";
import { planNode } from "../diag/plan.ts";
import { type NodeSnapshot, readSnapshot } from "../diag/snapshot.ts";
import type { CommandResult } from "./result.ts";
import { openSource, type RunOptions } from "./run.ts";
import { addProxyFlags, loadProxyConfig } from "./runflags.ts";
import { stdoutWantsColor } from "../diag/table.ts";

/** What the diagnostic commands read, so tests can hand them fakes. */
export interface DiagDeps {
  openDataplane(): Promise<DiagDataplane>;
  /** `Deno.networkInterfaces()`. */
  interfaces(): readonly InterfaceAddress[];
  /** The sysctl verdicts of `kipvs sysctl --check`. */
  sysctls(): Promise<SysctlVerdict[]>;
  /** Reads the cluster once; undefined when no source was given. */
  loadCluster?: () => Promise<ClusterState>;
  /** Whether the process runs as root (a failed read without root gets a hint). */
  isRoot?: boolean;
  /** Asks `kipvs run` on this node what it says of drift (its /healthz). */
  agent?: () => Promise<AgentView>;
}

/** Options of `kipvs dump`. */
export interface DumpCommandOptions {
  output: "table" | "json" | "ipvsadm";
  diff: boolean;
  filter: DumpFilter;
  config: ProxyConfig;
  color: boolean;
}

/**
 * A loader that reads the source once (manifests, or the API with --kubeconfig / --master), or
 * undefined when none was named.
 */
export function clusterLoader(
  opts: Pick<RunOptions, "manifests" | "kubeconfig" | "master" | "config">,
  log: Logger,
): (() => Promise<ClusterState>) | undefined {
  if (!opts.manifests && !opts.kubeconfig && !opts.master) return undefined;
  return async () => {
    const source = await openSource(opts, log);
    await source.start();
    try {
      return source.snapshot();
    } finally {
      await source.stop();
    }
  };
}

const json = (v: unknown) =>
  JSON.stringify(v, (_k, x) => x instanceof Set ? [...x] : x === undefined ? null : x, 2) + "\n";

/** Refuses flags `--diff` does not take. */
function checkDiffUsage(opts: DumpCommandOptions, hasSource: boolean): void {
  if (!hasSource) {
    throw new KipvsError("usage", "kipvs dump --diff needs a source: --manifests or --kubeconfig");
  }
  if (opts.output === "ipvsadm") {
    throw new KipvsError("usage", "kipvs dump --diff: -o ipvsadm shows a table, not a diff");
  }
  if (Object.values(opts.filter).some((v) => v !== undefined)) {
    throw new KipvsError("usage", "kipvs dump --diff compares the whole node: drop the filters");
  }
}

/** Runs `kipvs dump`: exit 0, or 1 when a facility could not be read; with --diff, 1 when out of step. */
export async function dumpCommand(
  opts: DumpCommandOptions,
  deps: DiagDeps,
): Promise<CommandResult> {
  const hasSource = deps.loadCluster !== undefined;
  if (opts.diff) checkDiffUsage(opts, hasSource);
  const filter = checkFilter(opts.filter, hasSource);
  const state = await deps.loadCluster?.();
  const interfaces = deps.interfaces();
  const desired = state ? planNode({ state, config: opts.config, interfaces }) : undefined;
  const dp = await deps.openDataplane();
  try {
    const snapshot = await readSnapshot({
      ...dp,
      interfaces: () => interfaces,
      ...(opts.diff ? {} : { sysctls: deps.sysctls }),
    }, { families: opts.diff ? opts.config.families : [4, 6], strict: opts.diff });
    if (opts.diff) {
      const d = diffNode({
        desired: desired!,
        snapshot,
        config: opts.config,
        randomFully: await dp.iptables.hasRandomFully(),
        // The backend the node holds, unless nftables was asked for.
        ...(opts.config.rulesBackend === "nftables" ? { rulesBackend: "nftables" as const } : {}),
      });
      const stdout = opts.output === "json" ? json(d) : diffText(d, { color: opts.color });
      return { code: d.inSync ? 0 : 1, stdout };
    }
    const agent = opts.output === "ipvsadm" ? undefined : await deps.agent?.();
    const report = buildDump({
      snapshot,
      desired,
      filter,
      excluded: excludedBy(opts.config.excludeCIDRs),
      ...(agent ? { agent } : {}),
    });
    return dumpResult(opts, report, snapshot, { backend: dp.backend, isRoot: deps.isRoot });
  } finally {
    dp.close();
  }
}

/** The dump's output in the format asked, and what could not be read on stderr. */
function dumpResult(
  opts: DumpCommandOptions,
  report: DumpReport,
  snapshot: NodeSnapshot,
  o: { backend: unknown; isRoot?: boolean },
): CommandResult {
  let stderr = report.errors.map((e) => `kipvs dump: cannot read ${e.facility}: ${e.message}\n`)
    .join("");
  if (report.errors.length > 0 && o.isRoot === false) {
    stderr += "kipvs dump: reading IPVS, ipsets and iptables needs root (CAP_NET_ADMIN)\n";
  }
  const stdout = opts.output === "json"
    ? json({ backend: o.backend, ...report })
    : opts.output === "ipvsadm"
    ? formatRules(dumpEntries(report, snapshot))
    : dumpText(report, { color: opts.color });
  return { code: report.errors.length > 0 ? 1 : 0, stdout, stderr };
}

/** Hands a command's result to the CLI layer. */
export type Deliver = (result: Promise<CommandResult>) => Promise<void>;

/** The configuration and source loader of a diagnostic command, from its flags and `--config`. */
export async function diagSetup(
  o: Record<string, unknown>,
  cmd: Command,
): Promise<{ config: ProxyConfig; loader?: () => Promise<ClusterState> }> {
  const { config, file } = await loadProxyConfig(o, cmd);
  // Diagnostics print to stdout: the source's info lines stay quiet unless asked for.
  const given = cmd.getOptionValueSource("logLevel") === "cli";
  const g = cmd.optsWithGlobals<{ logLevel: LogLevel; logFormat: "text" | "json" }>();
  const logger = new Logger({
    level: given ? g.logLevel : "warn",
    format: g.logFormat,
    fields: { cmd: cmd.name() },
  });
  const loader = clusterLoader({
    config,
    manifests: o.manifests as string | undefined,
    kubeconfig: (o.kubeconfig as string | undefined) ?? file?.kubeconfig,
    master: o.master as string | undefined,
  }, logger);
  return { config, ...(loader ? { loader } : {}) };
}

/**
 * Asks `kipvs run` on this node for its /healthz (at `--healthz-bind-address`, an unspecified
 * host meaning this node's loopback), within a second.
 */
export function askAgent(healthzBindAddress: string): () => Promise<AgentView> {
  return async () => {
    const { hostname, port } = parseBindAddress(healthzBindAddress, "--healthz-bind-address");
    const host = hostname === "0.0.0.0" || hostname === ""
      ? "127.0.0.1"
      : hostname === "::"
      ? "[::1]"
      : hostname.includes(":")
      ? `[${hostname}]`
      : hostname;
    const address = `${host}:${port}`;
    try {
      const res = await fetch(`http://${address}/healthz`, { signal: AbortSignal.timeout(1000) });
      const body = await res.json() as HealthBody;
      return { address, ...(body.drift ? { drift: body.drift } : {}) };
    } catch (err) {
      return { address, error: err instanceof Error ? err.message : String(err) };
    }
  };
}

/** The kernel, interfaces, sysctls and source behind the diagnostic commands. */
export function systemDiagDeps(
  config: ProxyConfig,
  loadCluster: (() => Promise<ClusterState>) | undefined,
): DiagDeps {
  const exec = new SystemExec();
  return {
    openDataplane: () => openKernelDataplane(exec, config.iptablesBackend),
    interfaces: () => Deno.networkInterfaces(),
    sysctls: () =>
      checkSysctls(
        new SysctlProgram(exec),
        wantedSettings({ kernelRelease: Deno.osRelease(), strictArp: config.strictARP }),
      ),
    ...(loadCluster ? { loadCluster } : {}),
    isRoot: Deno.uid() === 0,
    agent: askAgent(config.healthzBindAddress),
  };
}

/** Adds the source flags of the commands that can name services. */
export function addSourceFlags(cmd: Command): Command {
  return cmd
    .option("--manifests <path>", "service names from manifest files (a file or directory)")
    .option("--kubeconfig <file>", "service names from the API server of this kubeconfig")
    .option("--master <url>", "API server address (overrides the kubeconfig's)");
}

/** Registers `kipvs dump`. */
export function registerDump(program: Command, deliver: Deliver): void {
  addSourceFlags(addProxyFlags(
    program.command("dump").description(
      "show what is programmed, by namespace/service:port; --diff: what a sync would change",
    ),
  ))
    .option("--diff", "compare with the plan of the source; exit 1 when out of step", false)
    .addOption(
      new Option("-o, --output <format>", "output").choices(["table", "json", "ipvsadm"])
        .default("table"),
    )
    .option("-n, --namespace <namespace>", "only services of this namespace")
    .option("--service <name>", "only this service (name or namespace/name)")
    .option("--address <ip>", "only virtual servers with this address or real server")
    .action(async (o, cmd: Command) => {
      const { config, loader } = await diagSetup(o, cmd);
      await deliver(dumpCommand({
        output: o.output,
        diff: o.diff,
        filter: { namespace: o.namespace, service: o.service, address: o.address },
        config,
        color: o.output === "table" && stdoutWantsColor(),
      }, systemDiagDeps(config, loader)));
    });
}
