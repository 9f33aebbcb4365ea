/**
 * `kipvs explain <tcp|udp|sctp>/<ip>:<port> [--from <ip>]`: where a packet goes on this node,
 * traced through the rules, sets and virtual servers the kernel holds. Reads only.
 *
 * @module
 */

import { type Command, Option } from "commander";
import type { ProxyConfig } from "../config/config.ts";
import { explain, type Explanation } from "../diag/explain.ts";
import { inNftWords, nftStepChain, type NftView, nftView } from "../diag/nft_view.ts";
import { explainText } from "../diag/explain_text.ts";
import { planNode } from "../diag/plan.ts";
import { readSnapshot } from "../diag/snapshot.ts";
import { parseSource, parseTarget } from "../diag/target.ts";
import { addSourceFlags, type Deliver, type DiagDeps, diagSetup, systemDiagDeps } from "./dump.ts";
import { addProxyFlags } from "./runflags.ts";
import { stdoutWantsColor } from "../diag/table.ts";
import type { CommandResult } from "./result.ts";

/** Options of `kipvs explain`. */
export interface ExplainCommandOptions {
  /** "tcp/10.96.0.10:80". */
  target: string;
  /** Source address; undefined: the node itself. */
  from?: string;
  /** The packet entered through a bridge port (pods on a bridge CNI). */
  bridged: boolean;
  output: "table" | "json";
  config: ProxyConfig;
  color: boolean;
}

/** Runs `kipvs explain`; exit 0 (the trace is the answer, whatever it says). */
export async function explainCommand(
  opts: ExplainCommandOptions,
  deps: DiagDeps,
): Promise<CommandResult> {
  const target = parseTarget(opts.target);
  const from = opts.from === undefined ? undefined : parseSource(opts.from, target.family);
  const state = await deps.loadCluster?.();
  const interfaces = deps.interfaces();
  const desired = state ? planNode({ state, config: opts.config, interfaces }) : undefined;
  const dp = await deps.openDataplane();
  try {
    const snapshot = await readSnapshot(
      { ...dp, interfaces: () => interfaces },
      { families: [target.family], strict: true },
    );
    // The nftables rules backend: walked through the KUBE-* chains its tables stand for.
    const view = nftView(snapshot, opts.config);
    const traced = explain({
      target,
      ...(from === undefined ? {} : { from }),
      snapshot: view?.snapshot ?? snapshot,
      ...(desired ? { desired } : {}),
      ...(state ? { services: state.services } : {}),
      bridged: opts.bridged,
    });
    const e = view ? inNft(traced, view) : traced;
    const stdout = opts.output === "json"
      ? JSON.stringify(e, (_k, v) => v instanceof Set ? [...v] : v, 2) + "\n"
      : explainText(e, { color: opts.color });
    return { code: 0, stdout };
  } finally {
    dp.close();
  }
}

/** A trace of the nftables view written in nftables' words, with what was not walked. */
function inNft(e: Explanation, view: NftView): Explanation {
  const out = inNftWords(e, view.words);
  for (const h of [...out.hooks, ...out.afterIpvs]) {
    for (const s of h.steps) s.chain = nftStepChain(s.table, s.chain);
  }
  out.notes.unshift(
    "rules: kipvs's nftables tables (--rules-backend nftables); chains and sets by their nft names",
    ...view.skipped.map((c) => `chain ${c} differs from what kipvs writes: not traced`),
  );
  return out;
}

/** Registers `kipvs explain`. */
export function registerExplain(program: Command, deliver: Deliver): void {
  addSourceFlags(addProxyFlags(
    program.command("explain").description(
      "trace where a packet to <tcp|udp|sctp>/<ip>:<port> goes: rules, sets, real servers",
    ),
  ))
    .argument("<target>", "tcp|udp|sctp/<ip>:<port>, IPv6 as [addr]:port")
    .option("--from <ip>", "the packet's source (default: the node itself)")
    .option("--bridged", "the packet enters through a bridge port (bridge CNIs)", false)
    .addOption(
      new Option("-o, --output <format>", "output").choices(["table", "json"]).default("table"),
    )
    .action(async (target: string, o, cmd: Command) => {
      const { config, loader } = await diagSetup(o, cmd);
      await deliver(explainCommand({
        target,
        from: o.from,
        bridged: o.bridged,
        output: o.output,
        config,
        color: o.output === "table" && stdoutWantsColor(),
      }, systemDiagDeps(config, loader)));
    });
}
