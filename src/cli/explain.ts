/**
 * `kipvs explain <tcp|udp|sctp>/<ip>:<port> [--from <ip>]`: where a packet goes on this node,
 * traced through the rules, sets and virtual servers the kernel holds. Reads only.
 *
 * @module
 */

import { type Command, Option } from "commander";
import type { ProxyConfig } from "../config/config.ts";
import { explain } from "../diag/explain.ts";
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
    const e = explain({
      target,
      ...(from === undefined ? {} : { from }),
      snapshot,
      ...(desired ? { desired } : {}),
      ...(state ? { services: state.services } : {}),
      bridged: opts.bridged,
    });
    const stdout = opts.output === "json"
      ? JSON.stringify(e, (_k, v) => v instanceof Set ? [...v] : v, 2) + "\n"
      : explainText(e, { color: opts.color });
    return { code: 0, stdout };
  } finally {
    dp.close();
  }
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
