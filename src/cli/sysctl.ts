/**
 * `kipvs sysctl --check | --apply`: the kernel settings kube-proxy's IPVS mode depends on.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type { Exec } from "../dataplane/exec.ts";
import type { IptablesBackend } from "../dataplane/iptables/backend.ts";
import {
  ensureLocalnetGuard,
  hasLocalnetGuard,
  saveFilter,
} from "../dataplane/iptables/localnet.ts";
import type { SysctlIO } from "../dataplane/sysctl/io.ts";
import {
  applySysctls,
  checkSysctls,
  type ModuleLoader,
  type SysctlVerdict,
} from "../dataplane/sysctl/reconcile.ts";
import { wantedSettings } from "../dataplane/sysctl/settings.ts";
import { type Cell, renderTable, type Tone } from "../diag/table.ts";
import type { CommandResult } from "./result.ts";
import type { RulesBackend } from "../config/config.ts";
import {
  ensureNftLocalnetGuard,
  LOCALNET_TABLE,
  nftLocalnetGuardPresent,
} from "../dataplane/nftables/localnet.ts";

/** Options of `kipvs sysctl`. */
export interface SysctlCommandOptions {
  mode: "check" | "apply";
  output: "table" | "json";
  strictArp: boolean;
  localhostNodePorts: boolean;
  /** Where the localnet guard goes: iptables' KUBE-FIREWALL or nftables' `ip kipvs-localnet`. */
  rulesBackend?: RulesBackend;
  /** Colour the table (terminals only). */
  color: boolean;
}

/** What `kipvs sysctl` touches. */
export interface SysctlDeps {
  io: SysctlIO;
  /** Runs iptables programs for the localnet guard. */
  exec: Exec;
  loadModule: ModuleLoader;
  kernelRelease: string;
  isRoot: boolean;
  /** The iptables backend, for the localnet guard of `--localhost-nodeports`. */
  iptablesBackend: () => Promise<IptablesBackend>;
}

/** A key every IPVS-enabled kernel has: its absence means no IPVS. */
const IPVS_PROBE = "net.ipv4.vs.conntrack";

/** One row for the localnet guard, shown with the sysctls. */
const GUARD_KEY = "iptables: KUBE-FIREWALL localnet drop";

/** Runs `kipvs sysctl`; exit 0 when every setting is right, 1 when one is not. */
export async function sysctlCommand(
  opts: SysctlCommandOptions,
  deps: SysctlDeps,
): Promise<CommandResult> {
  if (opts.mode === "apply" && !deps.isRoot) {
    throw new KipvsError("not-root", "kipvs sysctl --apply must run as root (it writes /proc/sys)");
  }
  const settings = wantedSettings({
    kernelRelease: deps.kernelRelease,
    strictArp: opts.strictArp,
    localhostNodePorts: opts.localhostNodePorts,
  });
  let ipvsError: string | undefined;
  const hasIpvs = async () => (await deps.io.read([IPVS_PROBE])).has(IPVS_PROBE);
  if (!(await hasIpvs())) {
    const modErr = opts.mode === "apply" ? await deps.loadModule("ip_vs") : undefined;
    if (!(await hasIpvs())) {
      ipvsError = `IPVS is not available in this kernel (${deps.kernelRelease}): ` +
        `/proc/sys/net/ipv4/vs is missing; load the ip_vs kernel module (modprobe ip_vs` +
        `${modErr ? `: ${modErr}` : ""}) or use a kernel built with CONFIG_IP_VS`;
    }
  }
  const verdicts = opts.mode === "apply"
    ? await applySysctls({ io: deps.io, settings, loadModule: deps.loadModule })
    : await checkSysctls(deps.io, settings);
  if (opts.localhostNodePorts) {
    verdicts.push(
      opts.rulesBackend === "nftables"
        ? await nftGuardVerdict(opts.mode, deps)
        : await guardVerdict(opts.mode, deps),
    );
  }

  const bad = verdicts.filter((v) => v.state === "differs" || v.state === "missing");
  const ok = bad.length === 0 && ipvsError === undefined;
  const stdout = opts.output === "json"
    ? JSON.stringify(
      { ok, mode: opts.mode, error: ipvsError ?? null, settings: verdicts },
      (_k, v) => v === undefined ? null : v,
      2,
    ) + "\n"
    : renderVerdicts(verdicts, opts) + summary(opts.mode, verdicts, ipvsError);
  return { code: ok ? 0 : 1, stdout, stderr: ipvsError ? `kipvs: ${ipvsError}\n` : "" };
}

const GUARD_REASON =
  "drop non-local traffic to 127.0.0.0/8 (CVE-2020-8558), needed with route_localnet";

/** The guard in nftables (`--rules-backend nftables`): table ip kipvs-localnet. */
async function nftGuardVerdict(mode: "check" | "apply", deps: SysctlDeps): Promise<SysctlVerdict> {
  const key = `nftables: ip ${LOCALNET_TABLE} localnet drop`;
  try {
    const changed = mode === "apply" ? await ensureNftLocalnetGuard(deps.exec) : false;
    const present = changed || await nftLocalnetGuardPresent(deps.exec);
    return {
      key,
      want: "present",
      current: present ? "present" : "absent",
      state: present ? "ok" : "differs",
      reason: GUARD_REASON,
      ...(changed ? { changedFrom: "absent" } : {}),
    };
  } catch (err) {
    return {
      key,
      want: "present",
      current: undefined,
      state: "missing",
      reason: `${GUARD_REASON} (${(err as Error).message})`,
    };
  }
}

async function guardVerdict(
  mode: "check" | "apply",
  deps: SysctlDeps,
): Promise<SysctlVerdict> {
  const reason =
    "drop non-local traffic to 127.0.0.0/8 (CVE-2020-8558), needed with route_localnet";
  try {
    const backend = await deps.iptablesBackend();
    if (mode === "apply") {
      const changed = await ensureLocalnetGuard(deps.exec, backend);
      return {
        key: GUARD_KEY,
        want: "present",
        current: "present",
        state: "ok",
        reason,
        ...(changed ? { changedFrom: "absent" } : {}),
      };
    }
    const present = hasLocalnetGuard(await saveFilter(deps.exec, backend));
    return {
      key: GUARD_KEY,
      want: "present",
      current: present ? "present" : "absent",
      state: present ? "ok" : "differs",
      reason,
    };
  } catch (err) {
    return {
      key: GUARD_KEY,
      want: "present",
      current: undefined,
      state: "missing",
      reason: `${reason} (${(err as Error).message})`,
    };
  }
}

const TONES: Record<SysctlVerdict["state"], Tone> = {
  ok: "good",
  differs: "bad",
  missing: "bad",
  skipped: "dim",
};

function renderVerdicts(verdicts: readonly SysctlVerdict[], opts: SysctlCommandOptions): string {
  const rows: Cell[][] = verdicts.map((v) => [
    v.key,
    v.want ?? "-",
    v.changedFrom !== undefined ? `${v.changedFrom} -> ${v.current}` : v.current ?? "(missing)",
    { text: v.changedFrom !== undefined ? "changed" : v.state, tone: TONES[v.state] },
    v.reason,
  ]);
  return renderTable(["SETTING", "WANTED", "CURRENT", "VERDICT", "REASON"], rows, {
    color: opts.color,
  });
}

function summary(
  mode: "check" | "apply",
  verdicts: readonly SysctlVerdict[],
  ipvsError: string | undefined,
): string {
  const bad = verdicts.filter((v) => v.state === "differs" || v.state === "missing").length;
  const changed = verdicts.filter((v) => v.changedFrom !== undefined).length;
  if (mode === "apply") {
    return `\n${changed} changed, ${bad} not right${ipvsError ? ", IPVS missing" : ""}\n`;
  }
  return bad === 0 && !ipvsError
    ? "\nall settings are right\n"
    : `\n${bad} setting(s) not right${
      ipvsError ? ", IPVS missing" : ""
    }; run kipvs sysctl --apply\n`;
}
