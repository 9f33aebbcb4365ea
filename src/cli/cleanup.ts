/**
 * `kipvs cleanup [--dry-run] [run's flags]`: remove what kipvs or kube-proxy's IPVS mode programmed (virtual
 * servers, kube-ipvs0, KUBE- chains and their jumps, ipsets), and report it.
 *
 * @module
 */

import { type Command, Option } from "commander";
import { KipvsError } from "../errors.ts";
import { SystemExec } from "../dataplane/exec.ts";
import {
  applyCleanup,
  type CleanupResult,
  dryRunResult,
  planCleanup,
  planIsEmpty,
} from "../diag/cleanup.ts";
import { type DiagDataplane, openKernelDataplane } from "../diag/dataplane.ts";
import { readSnapshot } from "../diag/snapshot.ts";
import type { InterfaceAddress } from "../plan/nodeports.ts";
import type { Deliver } from "./dump.ts";
import type { CommandResult } from "./result.ts";
import type { Nftables } from "../dataplane/nftables/nftables.ts";
import { LOCALNET_TABLE } from "../dataplane/nftables/localnet.ts";
import { addRunFlags, hideOptionsExcept, loadProxyConfig } from "./runflags.ts";
import { type Cell, renderTable, stdoutWantsColor } from "../diag/table.ts";

/** Options of `kipvs cleanup`. */
export interface CleanupCommandOptions {
  excludeCIDRs: string[];
  dryRun: boolean;
  output: "table" | "json";
  color: boolean;
}

/** What `kipvs cleanup` touches. */
export interface CleanupCommandDeps {
  openDataplane(): Promise<DiagDataplane>;
  interfaces(): readonly InterfaceAddress[];
  isRoot: boolean;
}

/** Runs `kipvs cleanup`: exit 0 when everything of ours is gone (or was never there), else 1. */
export async function cleanupCommand(
  opts: CleanupCommandOptions,
  deps: CleanupCommandDeps,
): Promise<CommandResult> {
  if (!opts.dryRun && !deps.isRoot) {
    throw new KipvsError(
      "not-root",
      "kipvs cleanup must run as root (it removes IPVS, ipsets and iptables state)",
    );
  }
  const dp = await deps.openDataplane();
  try {
    // No IPVS in the kernel means no virtual servers to remove. What cannot be read is left
    // alone and reported (exit 1); the rest is still removed.
    const noIpvs = dp.ipvs instanceof KipvsError && dp.ipvs.code === "kernel-unsupported";
    const ipvs = noIpvs ? undefined : dp.ipvs;
    const snapshot = await readSnapshot(
      { ...dp, ipvs, interfaces: deps.interfaces },
      { families: [4, 6] },
    );
    const unread = snapshot.errors.map((e) => `cannot read ${e.facility}: ${e.message}`);
    const plan = planCleanup({ snapshot, excludeCIDRs: opts.excludeCIDRs });
    plan.nftLocalnet = await hasLocalnetTable(dp.nftables);
    const nothing = planIsEmpty(plan);
    let result: CleanupResult;
    if (opts.dryRun || nothing) result = dryRunResult(plan, snapshot);
    else {
      result = await applyCleanup(plan, {
        ...(ipvs === undefined || ipvs instanceof Error ? {} : { ipvs }),
        ...(dp.link instanceof Error ? {} : { link: dp.link }),
        ipset: dp.ipset,
        iptables: dp.iptables,
        ...(dp.nftables ? { nftables: dp.nftables } : {}),
      });
    }
    result.errors.unshift(...unread);
    const kept = { virtualServers: plan.keptVirtualServers, sets: result.keptSets };
    const code = result.errors.length > 0 ? 1 : 0;
    if (opts.output === "json") {
      const out = { dryRun: opts.dryRun, nothingToRemove: nothing, removed: result, kept };
      return { code, stdout: JSON.stringify(out, null, 2) + "\n" };
    }
    const stderr = result.errors.map((e) => `kipvs cleanup: ${e}\n`).join("");
    return { code, stdout: cleanupText(result, kept, opts, nothing), stderr };
  } finally {
    dp.close();
  }
}

function cleanupText(
  r: CleanupResult,
  kept: { virtualServers: { text: string; why: string }[] },
  opts: CleanupCommandOptions,
  nothing: boolean,
): string {
  const verb = opts.dryRun ? "would remove" : "removed";
  const rows: Cell[][] = [];
  const add = (what: string, items: readonly string[]) => {
    if (items.length > 0) rows.push([verb, what, items.join(" ")]);
  };
  add("virtual servers", r.virtualServers);
  if (r.linkDeleted) add("link", [`kube-ipvs0 (with ${r.addresses.length} addresses)`]);
  // Chains and jump rules one row per family and table; sets one row per family.
  const byPrefix = (items: readonly string[], split: (s: string) => [string, string]) => {
    const m = new Map<string, string[]>();
    for (const i of items) {
      const [k, v] = split(i);
      m.set(k, [...m.get(k) ?? [], v]);
    }
    return m;
  };
  // "IPv4 nat/KUBE-SERVICES" -> ["IPv4 nat", "KUBE-SERVICES"]
  const famTable = (s: string): [string, string] => {
    const slash = s.indexOf("/");
    return [s.slice(0, slash), s.slice(slash + 1)];
  };
  for (const [k, v] of byPrefix(r.chains, famTable)) add(`chains ${k}`, v);
  const jumps = r.jumps.map((j) => j.replace(" -> ", "->"));
  for (const [k, v] of byPrefix(jumps, famTable)) add(`jump rules ${k}`, v);
  for (const [k, v] of byPrefix(r.sets, (s) => [s.startsWith("KUBE-6-") ? "IPv6" : "IPv4", s])) {
    add(`ipsets ${k}`, v);
  }
  add("nftables tables", r.nftTables);
  const keep = (what: string, item: string, why: string) =>
    rows.push([{ text: "kept", tone: "dim" }, what, `${item}: ${why}`]);
  for (const v of kept.virtualServers) keep("virtual server", v.text, v.why);
  for (const s of r.keptSets) keep("ipset", s.name, `still used by ${s.usedBy}`);
  const summary = nothing
    ? "nothing to remove: no kipvs or kube-proxy (IPVS mode) state on this node\n"
    : `${verb} ${r.virtualServers.length} virtual server(s), ${
      r.linkDeleted ? "kube-ipvs0" : "no link"
    }, ${r.chains.length} chain(s), ${r.jumps.length} jump rule(s), ${r.sets.length} ipset(s)` +
      (r.nftTables.length ? `, ${r.nftTables.length} nftables table(s)` : "") +
      (r.errors.length ? `; ${r.errors.length} failure(s)` : "") + "\n";
  const table = rows.length
    ? renderTable(["ACTION", "WHAT", "ITEMS"], rows, { color: opts.color }) + "\n"
    : "";
  return table + summary;
}

/** The flags `cleanup` uses; it accepts the rest of `run`'s and ignores them. */
const CLEANUP_FLAGS = [
  "--config",
  "--ipvs-exclude-cidrs",
  "--iptables-backend",
  "--dry-run",
  "--output",
];

/**
 * Registers `kipvs cleanup`. Like `kube-proxy --cleanup`, it takes the command line and
 * `--config` file of `run`: it reads the excluded CIDRs and the iptables backend from them
 * (flags over the file) and ignores the rest (the source, the scheduler, the ports...), which
 * are still validated, so a typo fails here as it would in `run`.
 */
export function registerCleanup(program: Command, deliver: Deliver): void {
  const cmd = addRunFlags(
    program.command("cleanup")
      .description(
        "remove everything kipvs or kube-proxy (IPVS mode) programmed on this node " +
          "(accepts run's flags; uses --config, --ipvs-exclude-cidrs, --iptables-backend)",
      ),
  )
    .option("--dry-run", "say what would be removed, remove nothing", false)
    .addOption(
      new Option("-o, --output <format>", "output").choices(["table", "json"]).default("table"),
    );
  hideOptionsExcept(cmd, CLEANUP_FLAGS).action(async (o, c: Command) => {
    const { config } = await loadProxyConfig(o, c);
    const exec = new SystemExec();
    await deliver(cleanupCommand({
      excludeCIDRs: config.excludeCIDRs,
      dryRun: o.dryRun,
      output: o.output,
      color: o.output === "table" && stdoutWantsColor(),
    }, {
      openDataplane: () => openKernelDataplane(exec, config.iptablesBackend),
      interfaces: () => Deno.networkInterfaces(),
      isRoot: Deno.uid() === 0,
    }));
  });
}

/** Whether the nftables localnet guard's table exists (false where nf_tables cannot be read). */
async function hasLocalnetTable(nft: Nftables | undefined): Promise<boolean> {
  try {
    return nft ? await nft.hasTable(4, LOCALNET_TABLE) : false;
  } catch {
    return false;
  }
}
