/**
 * The command line: parses arguments with commander and dispatches to one handler per
 * subcommand. Handlers return a {@link CommandResult}; only this module writes to the process.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import { describeError, exitCodeFor, KipvsError } from "../errors.ts";
import { SystemExec } from "../dataplane/exec.ts";
import { resolveBackend } from "../dataplane/iptables/backend.ts";
import { SysctlProgram } from "../dataplane/sysctl/io.ts";
import { modprobe } from "../dataplane/sysctl/reconcile.ts";
import { type LogFormat, Logger, type LogLevel } from "../log.ts";
import type { CommandResult } from "./result.ts";
import { sysctlCommand } from "./sysctl.ts";
import { runCommand } from "./run.ts";
import { registerCleanup } from "./cleanup.ts";
import { registerDump } from "./dump.ts";
import { registerExplain } from "./explain.ts";
import { registerTop } from "./top.ts";
import { addRunFlags, loadProxyConfig, parseSize } from "./runflags.ts";
import { stdoutWantsColor } from "../diag/table.ts";
import { VERSION } from "../version.ts";

/** Where the CLI writes. */
export interface CliOutput {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

interface GlobalOptions {
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** Hands a command's result to {@link runCli}. */
type Deliver = (p: Promise<CommandResult>) => Promise<void>;

/** Runs the CLI on `argv` (without the program name) and returns the exit status. */
export async function runCli(argv: readonly string[], out: CliOutput): Promise<number> {
  let result: CommandResult | undefined;
  let logFormat: LogFormat = "text";
  const set: Deliver = (p) => p.then((r) => void (result = r));
  const program = rootCommand(out, (f) => logFormat = f);
  program.command("version").description("print the version").action(() => {
    result = { code: 0, stdout: `kipvs ${VERSION} (deno ${Deno.version.deno})\n` };
  });
  registerSysctl(program, set);
  registerRun(program, set);
  registerDump(program, set);
  registerExplain(program, set);
  registerCleanup(program, set);
  registerTop(program, set, { write: out.stdout, stop: stopSignal });

  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version end here with exitCode 0; parse errors were printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    reportError(err, logFormat, out);
    return err instanceof KipvsError ? exitCodeFor(err.code) : 1;
  }
  if (!result) return 0;
  out.stdout(result.stdout);
  if (result.stderr) out.stderr(result.stderr);
  return result.code;
}

/** `kipvs` with its global options; `onLogFormat` learns the format before any action runs. */
function rootCommand(out: CliOutput, onLogFormat: (f: LogFormat) => void): Command {
  return new Command("kipvs")
    .description("Kubernetes service proxy in IPVS mode")
    .version(VERSION, "--version", "print the version")
    .addOption(
      new Option("--log-level <level>", "error, warn, info or debug")
        .choices(["error", "warn", "info", "debug"]).default("info"),
    )
    .addOption(
      new Option("--log-format <format>", "text for terminals, json for log collectors")
        .choices(["text", "json"]).default("text"),
    )
    .exitOverride()
    .configureOutput({ writeOut: out.stdout, writeErr: out.stderr })
    .showHelpAfterError("(run kipvs --help for usage)")
    .hook("preAction", (cmd) => {
      onLogFormat(cmd.opts<GlobalOptions>().logFormat);
    });
}

/** Registers `kipvs sysctl`. */
function registerSysctl(program: Command, deliver: Deliver): void {
  program.command("sysctl")
    .description("check or apply the kernel settings kipvs depends on")
    .option("--check", "compare the settings with the kernel (default)")
    .option("--apply", "write the settings that differ")
    .option("--strict-arp", "also want arp_ignore=1 and arp_announce=2", false)
    .option("--localhost-nodeports", "also want route_localnet=1 and its drop rule", false)
    .addOption(
      new Option("--iptables-backend <backend>", "iptables backend for the localnet guard")
        .choices(["auto", "legacy", "nft"]).default("auto"),
    )
    .addOption(
      new Option("--rules-backend <backend>", "where the localnet guard goes (as kipvs run's)")
        .choices(["iptables", "nftables"]).default("iptables"),
    )
    .addOption(
      new Option("-o, --output <format>", "output").choices(["table", "json"]).default("table"),
    )
    .action((o) => {
      if (o.check && o.apply) {
        throw new KipvsError("usage", "kipvs sysctl: --check and --apply exclude each other");
      }
      const exec = new SystemExec();
      return deliver(sysctlCommand({
        mode: o.apply ? "apply" : "check",
        output: o.output,
        strictArp: o.strictArp,
        localhostNodePorts: o.localhostNodeports,
        rulesBackend: o.rulesBackend,
        color: o.output === "table" && stdoutWantsColor(),
      }, {
        io: new SysctlProgram(exec),
        exec,
        loadModule: modprobe(exec),
        kernelRelease: Deno.osRelease(),
        isRoot: Deno.uid() === 0,
        iptablesBackend: () => resolveBackend(o.iptablesBackend, exec),
      }));
    });
}

/** Registers `kipvs run`: the log settings of `--config` apply unless given on the command line. */
function registerRun(program: Command, deliver: Deliver): void {
  addRunFlags(
    program.command("run").description("watch the cluster and keep the node's dataplane in step"),
  )
    .action(async (o, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const { config, file } = await loadProxyConfig(o, cmd);
      const level = cmd.getOptionValueSource("logLevel") === "cli"
        ? g.logLevel
        : file?.logLevel ?? g.logLevel;
      const format = cmd.getOptionValueSource("logFormat") === "cli"
        ? g.logFormat
        : file?.logFormat ?? g.logFormat;
      const logger = new Logger({ level, format, fields: { cmd: "run" } });
      await deliver(runCommand({
        config,
        manifests: o.manifests,
        manifestMaxBytes: parseSize("--manifest-max-bytes", o.manifestMaxBytes),
        kubeconfig: o.kubeconfig ?? file?.kubeconfig,
        master: o.master,
        once: o.once,
        skipSysctl: o.skipSysctl,
      }, {
        exec: new SystemExec(),
        logger,
        isRoot: Deno.uid() === 0,
        kernelRelease: Deno.osRelease(),
        stopSignal: stopSignal(),
      }));
    });
}

/** Resolves with the name of the first SIGTERM or SIGINT. */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(sig, () => resolve(sig));
    }
  });
}

function reportError(err: unknown, format: LogFormat, out: CliOutput): void {
  const log = new Logger({ format, sink: (l) => out.stderr(l + "\n") });
  if (err instanceof KipvsError) log.error(describeError(err), { code: err.code, ...err.details });
  else log.error(describeError(err), { code: "internal", stack: (err as Error)?.stack });
}
