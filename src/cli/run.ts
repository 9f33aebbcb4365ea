/**
 * `kipvs run`: program the node from a source and keep it programmed. `--once` does one full
 * sync and exits (0, or 1 when the sync failed; bad objects alone do not fail it).
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import { ConntrackProgram } from "../dataplane/conntrack/conntrack.ts";
import { openConntrack } from "../dataplane/conntrack/netlink.ts";
import { CountingExec, type Exec } from "../dataplane/exec.ts";
import { otherWriters } from "../agent/writers.ts";
import { openIpset } from "../dataplane/ipset/open.ts";
import { resolveBackend } from "../dataplane/iptables/backend.ts";
import { KernelIptables } from "../dataplane/iptables/iptables.ts";
import { KernelNftables } from "../dataplane/nftables/nftables.ts";
import { KernelIpvs } from "../dataplane/ipvs/kernel.ts";
import { KernelDummyLink } from "../dataplane/link/kernel.ts";
import { SysctlProgram } from "../dataplane/sysctl/io.ts";
import { applySysctls, modprobe } from "../dataplane/sysctl/reconcile.ts";
import { wantedSettings } from "../dataplane/sysctl/settings.ts";
import { parseBindAddress } from "../observe/http.ts";
import type { Logger } from "../log.ts";
import { ProxyMetrics } from "../observe/metrics.ts";
import { ProbeServer } from "../observe/probes.ts";
import type { ProxyConfig } from "../config/config.ts";
import { Daemon } from "../agent/daemon.ts";
import { nodeInfo } from "../plan/nodeinfo.ts";
import { type Dataplane, Proxier } from "../reconcile/proxier.ts";
import { ManifestSource } from "../source/manifest.ts";
import { openKubeSource } from "../source/kube/open.ts";
import { validateObject } from "../k8s/validate.ts";
import type { ClusterSource } from "../source/source.ts";
import type { CommandResult } from "./result.ts";

/** What `kipvs run` was asked to do. */
export interface RunOptions {
  config: ProxyConfig;
  /** Manifest file or directory; without it, the Kubernetes API. */
  manifests?: string;
  /** Manifest files larger than this are refused (default 32 MiB). */
  manifestMaxBytes?: number;
  kubeconfig?: string;
  master?: string;
  once: boolean;
  skipSysctl: boolean;
}

/** Process-level dependencies (signals, exec) so tests can drive the command. */
export interface RunDeps {
  exec: Exec;
  logger: Logger;
  isRoot: boolean;
  kernelRelease: string;
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT). */
  stopSignal: Promise<string>;
}

/** Opens the kernel facilities kipvs drives. */
export async function openDataplane(config: ProxyConfig, deps: RunDeps): Promise<Dataplane> {
  const backend = await resolveBackend(config.iptablesBackend, deps.exec);
  // Said once at start: which iptables a node's rules went to is the first question when they
  // seem missing (auto detects it like iptables-wrappers).
  if (config.rulesBackend === "nftables") {
    deps.logger.info("rules backend", { rules: "nftables", tables: "ip kipvs, ip6 kipvs" });
  } else deps.logger.info("iptables backend", { backend, choice: config.iptablesBackend });
  const exec = new CountingExec(deps.exec);
  return {
    ipvs: KernelIpvs.open(),
    link: KernelDummyLink.open(),
    ipset: await openIpset({ exec, logger: deps.logger }),
    iptables: new KernelIptables({ exec, backend }),
    nftables: new KernelNftables({ exec }),
    conntrack: await openConntrack({
      program: new ConntrackProgram(exec, deps.logger),
      logger: deps.logger,
    }),
    programs: () => exec.started,
  };
}

/** The manifest source with --manifests, else the Kubernetes API (kubeconfig or in-cluster). */
export async function openSource(
  opts: Pick<RunOptions, "manifests" | "manifestMaxBytes" | "kubeconfig" | "master" | "config">,
  log: Logger,
): Promise<ClusterSource> {
  const nodeName = opts.config.hostname;
  if (opts.manifests) {
    return new ManifestSource({
      path: opts.manifests,
      nodeName,
      logger: log,
      maxFileBytes: opts.manifestMaxBytes,
    });
  }
  return await openKubeSource({
    kubeconfig: opts.kubeconfig,
    master: opts.master,
    nodeName,
    decode: (raw) => validateObject(raw),
    log,
  });
}

async function applyKernelSettings(opts: RunOptions, deps: RunDeps): Promise<void> {
  const io = new SysctlProgram(deps.exec);
  const verdicts = await applySysctls({
    io,
    settings: wantedSettings({
      kernelRelease: deps.kernelRelease,
      strictArp: opts.config.strictARP,
    }),
    loadModule: modprobe(deps.exec),
  });
  for (const v of verdicts) {
    if (v.changedFrom !== undefined) {
      deps.logger.info("sysctl set", { key: v.key, from: v.changedFrom, to: v.current });
    } else if (v.state === "missing" || v.state === "differs") {
      deps.logger.warn("sysctl not right", {
        key: v.key,
        want: v.want,
        current: v.current,
        reason: v.reason,
      });
    }
  }
}

/** Runs `kipvs run`. */
export async function runCommand(opts: RunOptions, deps: RunDeps): Promise<CommandResult> {
  const log = deps.logger;
  if (!deps.isRoot) {
    throw new KipvsError(
      "not-root",
      "kipvs run must run as root (it programs IPVS, ipsets and iptables)",
    );
  }
  // The source first: manifest files are parsed in workers, which start meanwhile.
  const source = await openSource(opts, log);
  let dataplane: Dataplane | undefined;
  try {
    if (!opts.skipSysctl) await applyKernelSettings(opts, deps);
    dataplane = await openDataplane(opts.config, deps);
    const { config } = opts;
    if (config.tcpTimeoutSeconds || config.tcpFinTimeoutSeconds || config.udpTimeoutSeconds) {
      await dataplane.ipvs.setTimeouts({
        tcp: config.tcpTimeoutSeconds,
        tcpFin: config.tcpFinTimeoutSeconds,
        udp: config.udpTimeoutSeconds,
      });
    }
    if (opts.once) await source.start(); // the daemon starts it once healthz is served
    const proxier = new Proxier({ config, dataplane, logger: log });
    if (opts.once) return await once(source, proxier, dataplane, opts, log);
    return await daemon(source, proxier, dataplane, opts, deps);
  } finally {
    await source.stop();
    dataplane?.ipvs.close();
    dataplane?.link.close();
    dataplane?.ipset.close?.();
    dataplane?.conntrack.close?.();
    dataplane?.nftables?.close?.();
  }
}

async function once(
  source: ClusterSource,
  proxier: Proxier,
  dataplane: Dataplane,
  opts: RunOptions,
  log: Logger,
): Promise<CommandResult> {
  const state = source.snapshot();
  try {
    const r = await proxier.sync({
      state,
      node: nodeInfo({
        config: opts.config,
        node: state.node,
        interfaces: await dataplane.link.nodeAddresses(),
      }),
      services: new Set(),
      full: true,
    });
    const { drift: _, ...logged } = r; // --once adopts the kernel: no drift to tell
    log.info("synced", { ...logged, ms: +r.ms.toFixed(1) });
    return { code: 0, stdout: "" };
  } catch (err) {
    log.error("sync failed", { err });
    return { code: 1, stdout: "" };
  }
}

async function daemon(
  source: ClusterSource,
  proxier: Proxier,
  dataplane: Dataplane,
  opts: RunOptions,
  deps: RunDeps,
): Promise<CommandResult> {
  const { config } = opts;
  const log = deps.logger;
  const metrics = new ProxyMetrics({ source: () => source.health() });
  // healthz, metrics and health check node ports answer from a thread of their own, whatever
  // the main thread is busy with (see observe/probes.ts).
  const probes = await ProbeServer.start({
    healthz: parseBindAddress(config.healthzBindAddress, "--healthz-bind-address"),
    metrics: parseBindAddress(config.metricsBindAddress, "--metrics-bind-address"),
    timeoutMs: 2 * config.syncPeriodMs,
    metricsText: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
    source: () => source.health(),
    logger: log,
  });
  const d = new Daemon({
    config,
    source,
    proxier,
    logger: log,
    metrics,
    health: probes,
    serviceHealth: probes,
    // over netlink, without kube-ipvs0's addresses (one per service address)
    interfaces: () => dataplane.link.nodeAddresses(),
    otherWriters: otherWriters({ exec: deps.exec, healthzPort: probes.ports.healthz }),
  });
  // healthz answers while the initial lists are read (as kube-proxy's: nothing is queued yet),
  // so that probes do not restart a proxy that waits for an unreachable API server.
  const listed = source.start();
  listed.catch(() => {}); // rejected by a stop during the lists: the race below decides
  let signal = await Promise.race([listed.then(() => undefined), deps.stopSignal]);
  if (signal === undefined) {
    d.start();
    log.info("kipvs running", { node: config.hostname, scheduler: config.scheduler });
    signal = await deps.stopSignal;
  }
  log.info("stopping; the dataplane stays as it is", { signal });
  // Bounded: a sync in progress may finish, the rest must not keep the process beyond a second.
  await Promise.race([
    Promise.all([d.stop(), probes.close()]),
    new Promise((r) => setTimeout(r, 800)),
  ]);
  return { code: 0, stdout: "" };
}
