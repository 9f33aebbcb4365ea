/**
 * The flags of `kipvs run` under kube-proxy's names, and how flags, `--config` and defaults
 * combine: defaults, then the configuration file, then every flag given on the command line.
 *
 * @module
 */

import { type Command, Option } from "commander";
import { KipvsError } from "../errors.ts";
import {
  DEFAULT_CONFIG,
  PROXY_SCHEDULERS,
  type ProxyConfig,
  RULES_BACKENDS,
} from "../config/config.ts";
import { type FileConfig, parseConfigFile } from "../config/configfile.ts";
import { parseDuration } from "../config/duration.ts";
import { nodePortCIDRs } from "../plan/nodeports.ts";
import { parseCIDR } from "../net/ip.ts";

/** Adds the proxy flags to a command (shared by `run` and the commands that plan). */
export function addProxyFlags(cmd: Command): Command {
  return cmd
    .option("--config <file>", "a KubeProxyConfiguration file (kube-proxy's --config)")
    .option("--hostname-override <name>", "this node's name (default: the host name)")
    .option("--ipvs-scheduler <name>", `IPVS scheduler: ${PROXY_SCHEDULERS.join(" ")}`, "rr")
    .option("--ipvs-sync-period <duration>", "full resync at least this often", "30s")
    .option("--ipvs-min-sync-period <duration>", "at most one sync this often", "1s")
    .option("--ipvs-exclude-cidrs <cidrs>", "virtual servers kipvs never removes", "")
    .option("--ipvs-strict-arp", "set arp_ignore=1 and arp_announce=2", false)
    .option("--ipvs-tcp-timeout <duration>", "idle TCP session timeout (0: leave)", "0s")
    .option("--ipvs-tcpfin-timeout <duration>", "TCP timeout after FIN (0: leave)", "0s")
    .option("--ipvs-udp-timeout <duration>", "UDP timeout (0: leave)", "0s")
    .option("--cluster-cidr <cidrs>", "pod CIDRs, for local traffic detection", "")
    .option("--masquerade-all", "SNAT all traffic to service addresses", false)
    .option("--iptables-masquerade-bit <bit>", "fwmark bit that asks for SNAT", "14")
    .addOption(
      new Option("--masquerade-bit <bit>", "alias of --iptables-masquerade-bit").hideHelp(),
    )
    .option(
      "--nodeport-addresses <cidrs>",
      'addresses that serve node ports: CIDRs, or "primary" (default: all local addresses)',
      "",
    )
    .option("--healthz-bind-address <host:port>", "healthz server", "0.0.0.0:10256")
    .option("--metrics-bind-address <host:port>", "metrics server", "127.0.0.1:10249")
    .option("--graceful-termination-check-period <duration>", "draining check period", "10s")
    .addOption(
      new Option(
        "--iptables-backend <backend>",
        "iptables backend (auto: detect like iptables-wrappers)",
      )
        .choices(["auto", "legacy", "nft"]).default("auto"),
    )
    .addOption(
      new Option(
        "--rules-backend <backend>",
        "packet filter of IPVS mode: iptables (ipsets, KUBE-* chains) or nftables (table kipvs)",
      ).choices([...RULES_BACKENDS]).default("iptables"),
    );
}

/**
 * `kipvs run`'s flags: the proxy flags, the source (`--manifests`, `--kubeconfig`, `--master`)
 * and the run mode (`--once`, `--skip-sysctl`). `cleanup` takes them too, so that one command
 * line (and one ConfigMap) serves both, as kube-proxy's `--cleanup` does.
 */
export function addRunFlags(cmd: Command): Command {
  return addProxyFlags(cmd)
    .option("--manifests <path>", "read objects from a manifest file or directory, not the API")
    .option("--kubeconfig <file>", "kubeconfig of the API server (default: in-cluster)")
    .option("--master <url>", "API server address (overrides the kubeconfig's)")
    .option(
      "--manifest-max-bytes <size>",
      "refuse manifest files larger than this (bytes, or e.g. 64Mi)",
      "32Mi",
    )
    .option("--once", "sync once and exit", false)
    .option("--skip-sysctl", "do not apply the kernel settings at start", false);
}

/**
 * Hides from `cmd`'s help every option whose long name is not in `shown`: the command accepts
 * them (and ignores them) but its help lists only what it uses.
 */
export function hideOptionsExcept(cmd: Command, shown: readonly string[]): Command {
  for (const o of cmd.options) if (!shown.includes(o.long ?? "")) o.hideHelp();
  return cmd;
}

/** How commander reports where a value came from. */
export type ValueSource = (key: string) => string | undefined;

function bad(flag: string, value: unknown, why: string): never {
  throw new KipvsError("usage", `${flag}: ${JSON.stringify(value)} ${why}`);
}

/**
 * A size in bytes: "33554432", "32Mi", "512Ki", "1Gi" (binary units, as Kubernetes quantities
 * write them), or with decimal units "64M", "500k".
 */
export function parseSize(flag: string, v: string): number {
  const m = /^\s*(\d+)\s*(|k|Ki|M|Mi|G|Gi)\s*$/.exec(v);
  if (!m) bad(flag, v, "is not a size (e.g. 33554432, 32Mi, 64M)");
  const unit: Record<string, number> = {
    "": 1,
    k: 1e3,
    Ki: 1 << 10,
    M: 1e6,
    Mi: 1 << 20,
    G: 1e9,
    Gi: 1 << 30,
  };
  const n = Number(m[1]) * unit[m[2]!]!;
  if (n < 1 || !Number.isSafeInteger(n)) bad(flag, v, "is out of range");
  return n;
}

function duration(flag: string, v: string): number {
  return parseDuration(v) ?? bad(flag, v, "is not a duration (e.g. 30s, 1m)");
}

function cidrs(flag: string, v: string): string[] {
  const list = v.split(",").map((s) => s.trim()).filter(Boolean);
  for (const c of list) if (!parseCIDR(c)) bad(flag, c, "is not a CIDR");
  return list;
}

/** Reads a flag the command line gave: `given(k)` says whether, `s(k)` its text. */
interface GivenFlags {
  given: (k: string) => boolean;
  s: (k: string) => string;
}

/** Merges defaults, the file and the flags given, and validates the result. */
export function resolveProxyConfig(
  opts: Record<string, unknown>,
  source: ValueSource,
  file: FileConfig | undefined,
  hostname: string,
): ProxyConfig {
  const c: ProxyConfig = { ...DEFAULT_CONFIG, hostname, ...file?.config };
  const f: GivenFlags = {
    given: (k) => source(k) === "cli",
    s: (k) => String(opts[k] ?? ""),
  };
  applyIpvsFlags(c, f);
  applyOtherFlags(c, f);
  checkProxyConfig(c);
  return c;
}

/** The --ipvs-* flags. */
function applyIpvsFlags(c: ProxyConfig, { given, s }: GivenFlags): void {
  if (given("ipvsScheduler")) c.scheduler = s("ipvsScheduler");
  if (given("ipvsSyncPeriod")) c.syncPeriodMs = duration("--ipvs-sync-period", s("ipvsSyncPeriod"));
  if (given("ipvsMinSyncPeriod")) {
    c.minSyncPeriodMs = duration("--ipvs-min-sync-period", s("ipvsMinSyncPeriod"));
  }
  if (given("ipvsExcludeCidrs")) {
    c.excludeCIDRs = cidrs("--ipvs-exclude-cidrs", s("ipvsExcludeCidrs"));
  }
  if (given("ipvsStrictArp")) c.strictARP = true;
  if (given("ipvsTcpTimeout")) {
    c.tcpTimeoutSeconds = duration("--ipvs-tcp-timeout", s("ipvsTcpTimeout")) / 1000;
  }
  if (given("ipvsTcpfinTimeout")) {
    c.tcpFinTimeoutSeconds = duration("--ipvs-tcpfin-timeout", s("ipvsTcpfinTimeout")) / 1000;
  }
  if (given("ipvsUdpTimeout")) {
    c.udpTimeoutSeconds = duration("--ipvs-udp-timeout", s("ipvsUdpTimeout")) / 1000;
  }
}

/** Every other flag of the configuration. */
function applyOtherFlags(c: ProxyConfig, { given, s }: GivenFlags): void {
  if (given("hostnameOverride")) c.hostname = s("hostnameOverride").trim().toLowerCase();
  if (given("clusterCidr")) c.clusterCIDRs = cidrs("--cluster-cidr", s("clusterCidr"));
  if (given("masqueradeAll")) c.masqueradeAll = true;
  for (
    const [k, flag] of [
      ["iptablesMasqueradeBit", "--iptables-masquerade-bit"],
      ["masqueradeBit", "--masquerade-bit"],
    ] as const
  ) {
    if (!given(k)) continue;
    const b = Number(s(k));
    c.masqueradeBit = Number.isInteger(b) && b >= 0 && b <= 31
      ? b
      : bad(flag, s(k), "must be an integer 0-31");
  }
  if (given("nodeportAddresses")) {
    c.nodePortAddresses = s("nodeportAddresses").split(",").map((x) => x.trim()).filter(Boolean);
  }
  if (given("healthzBindAddress")) c.healthzBindAddress = s("healthzBindAddress");
  if (given("metricsBindAddress")) c.metricsBindAddress = s("metricsBindAddress");
  if (given("gracefulTerminationCheckPeriod")) {
    c.gracefulTerminationCheckPeriodMs = duration(
      "--graceful-termination-check-period",
      s("gracefulTerminationCheckPeriod"),
    );
  }
  if (given("iptablesBackend")) {
    c.iptablesBackend = s("iptablesBackend") as ProxyConfig["iptablesBackend"];
  }
  if (given("rulesBackend")) c.rulesBackend = s("rulesBackend") as ProxyConfig["rulesBackend"];
}

/** Checks the merged configuration; throws naming the flag and the value. */
function checkProxyConfig(c: ProxyConfig): void {
  if (!PROXY_SCHEDULERS.includes(c.scheduler)) {
    bad("--ipvs-scheduler", c.scheduler, `is not one of ${PROXY_SCHEDULERS.join(" ")}`);
  }
  if (c.syncPeriodMs <= 0) bad("--ipvs-sync-period", c.syncPeriodMs, "must be greater than 0");
  if (c.minSyncPeriodMs > c.syncPeriodMs) {
    bad("--ipvs-min-sync-period", `${c.minSyncPeriodMs}ms`, "must not exceed --ipvs-sync-period");
  }
  if (c.gracefulTerminationCheckPeriodMs <= 0) {
    bad("--graceful-termination-check-period", c.gracefulTerminationCheckPeriodMs, "must be > 0");
  }
  if (!c.hostname) bad("--hostname-override", c.hostname, "is empty and the host has no name");
  // Validates CIDRs and "primary"; throws naming the value.
  nodePortCIDRs(c.nodePortAddresses);
}

/** Reads a file the operator named; a failure is an `io` error naming the flag and the path. */
export async function readNamedFile(path: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new KipvsError("io", `${flag}: cannot read ${path}`, { cause: err });
  }
}

/**
 * The proxy configuration of a command that took {@link addProxyFlags}: `--config`'s file (when
 * given) under the flags given on the command line. Returns the file's settings too (log format
 * and level, kubeconfig).
 */
export async function loadProxyConfig(
  opts: Record<string, unknown>,
  cmd: Command,
): Promise<{ config: ProxyConfig; file?: FileConfig }> {
  const path = opts.config as string | undefined;
  const file = path === undefined
    ? undefined
    : parseConfigFile(await readNamedFile(path, "--config"), path);
  const config = resolveProxyConfig(
    opts,
    (k) => cmd.getOptionValueSource(k),
    file,
    Deno.hostname().toLowerCase(),
  );
  return { config, ...(file ? { file } : {}) };
}
