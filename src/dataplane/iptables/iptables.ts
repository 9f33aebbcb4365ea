/**
 * The iptables backend: read a family's tables with one `iptables-save`, change them with one
 * `iptables-restore --noflush` (payload on standard input), through the legacy or nft programs
 * chosen by backend.ts.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { Family } from "../../net/family.ts";
import type { Exec } from "../exec.ts";
import { excerptLines } from "../ipset/_lines.ts";
import { type IptablesBackend, iptablesTools } from "./backend.ts";
import { type IptablesSnapshot, parseIptablesSave } from "./save.ts";

/** Reads and changes one backend's iptables. */
export interface Iptables {
  /** Every loaded table of a family (like: `iptables-save`). */
  save(family: Family): Promise<IptablesSnapshot>;
  /**
   * Applies a payload without flushing the tables (like: `iptables-restore -w 5 --noflush`).
   * Each table's block is all or nothing. Throws an `exec` KipvsError naming the program and the
   * failing line with its neighbours.
   */
  restore(family: Family, payload: string): Promise<void>;
  /** Whether MASQUERADE takes `--random-fully` (iptables 1.6.2 and later). */
  hasRandomFully(): Promise<boolean>;
}

/**
 * Builds the error of a failed restore. iptables-restore names the line either as
 * "Error occurred at line: N" (a rule it could not parse or load) or "line N failed" (the
 * table's commit was refused); iptables-nft-restore as "line N: CHAIN_USER_ADD failed ...", or
 * names a table's COMMIT when a jump target is missing (then the rule that jumps is shown).
 */
export function iptablesRestoreError(
  program: string,
  payload: string,
  res: { code: number; stderr: string },
): KipvsError {
  const m = /Error occurred at line: (\d+)/.exec(res.stderr) ??
    /line (\d+) failed/.exec(res.stderr) ?? /^line (\d+): /m.exec(res.stderr);
  const line = m ? jumpToMissingChain(payload, Number(m[1]), res.stderr) : undefined;
  const reason = res.stderr.split("\n")
    .map((l) => l.trim().replace(/^\S+-restore( v[\d.]+ \([\w_]+\))?: ?/, ""))
    .find((l) => l !== "" && !l.startsWith("Error occurred at line") && !l.startsWith("Try `")) ??
    `exited with ${res.code}`;
  const where = line === undefined ? "" : ` at line ${line}`;
  const lines = line === undefined ? [] : excerptLines(payload, line);
  return new KipvsError(
    "exec",
    `${program} failed${where}: ${reason}` + (lines.length ? `\n${lines.join("\n")}` : ""),
    {
      details: {
        program,
        code: res.code,
        ...(line === undefined ? {} : { line }),
        stderr: res.stderr,
      },
    },
  );
}

/**
 * iptables-nft-restore 1.8.9 resolves jump targets when it commits a table, and then blames the
 * COMMIT line ("Chain 'KUBE-NOPE' does not exist", "Error occurred at line: 4"): the line to show
 * is the table's first rule that jumps to that chain. Any other line is returned as it is.
 */
function jumpToMissingChain(payload: string, line: number, stderr: string): number {
  const chain = /Chain '([^']+)' does not exist/.exec(stderr)?.[1];
  const lines = payload.split("\n");
  if (chain === undefined || lines[line - 1]?.trim() !== "COMMIT") return line;
  let start = line - 1;
  while (start > 1 && !lines[start - 1]!.startsWith("*")) start--;
  for (let n = start; n < line; n++) {
    const target = / -[jg] (\S+)(?: |$)/.exec(lines[n - 1]!)?.[1];
    if (target === chain) return n;
  }
  return line;
}

/** Whether an `iptables-save --version` line names 1.6.2 or later. */
export function versionHasRandomFully(versionText: string): boolean {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(versionText);
  if (!m) return false;
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return a > 1 || (a === 1 && (b > 6 || (b === 6 && c >= 2)));
}

/** {@link Iptables} through the `iptables-<backend>-save/restore` programs. */
export class KernelIptables implements Iptables {
  #exec: Exec;
  #backend: IptablesBackend;
  #randomFully?: boolean;

  constructor(options: { exec: Exec; backend: IptablesBackend }) {
    this.#exec = options.exec;
    this.#backend = options.backend;
  }

  /** The backend in use. */
  get backend(): IptablesBackend {
    return this.#backend;
  }

  async save(family: Family): Promise<IptablesSnapshot> {
    const { save } = iptablesTools(this.#backend, family);
    const res = await this.#exec.run(save, []);
    if (res.code !== 0) {
      throw new KipvsError("exec", `${save} exited with ${res.code}: ${res.stderr.trim()}`, {
        details: { program: save, code: res.code },
      });
    }
    return parseIptablesSave(res.stdout);
  }

  async restore(family: Family, payload: string): Promise<void> {
    if (payload === "") return;
    const { restore } = iptablesTools(this.#backend, family);
    // Wait up to 5 s for the xtables lock (1.8.9 ignores a -W interval, with a warning).
    const args = ["-w", "5", "--noflush"];
    const res = await this.#exec.run(restore, args, { stdin: payload });
    if (res.code !== 0) throw iptablesRestoreError(restore, payload, res);
  }

  async hasRandomFully(): Promise<boolean> {
    if (this.#randomFully === undefined) {
      const { save } = iptablesTools(this.#backend, 4);
      const res = await this.#exec.run(save, ["--version"]);
      this.#randomFully = res.code === 0 && versionHasRandomFully(res.stdout + res.stderr);
    }
    return this.#randomFully;
  }
}
