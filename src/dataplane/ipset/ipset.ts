/**
 * The ipset backend: read every set with one `ipset save`, apply typed ops (ops.ts) with one
 * `ipset restore -exist`. Programs run through {@link Exec} with argument arrays; the restore
 * text, rendered here at the program's edge, travels on standard input, never on a command line.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { Exec } from "../exec.ts";
import { excerptLines, findLine } from "./_lines.ts";
import { type IpsetOp, restoreText } from "./ops.ts";
import { type IpsetSnapshot, parseIpsetSave } from "./save.ts";

/** Reads and changes the kernel's ipsets. */
export interface Ipset {
  /** Every set the kernel holds, with its entries (like: `ipset save`). */
  save(): Promise<IpsetSnapshot>;
  /**
   * Applies create/add/del/destroy/flush ops in order (like `ipset restore -exist`: creating an
   * identical set, adding a present entry or deleting an absent one is not an error). A failed
   * apply may have applied ops besides those before the failing one (ops are sent in batches):
   * read the sets again before retrying. Throws an `exec` KipvsError (a `netlink` one from the
   * netlink backend) that names the failing op as line N of its `ipset restore` text, with its
   * neighbours.
   */
  apply(ops: readonly IpsetOp[]): Promise<void>;
  /** Netlink messages sent so far, for backends that speak netlink (none for the program). */
  readonly messagesSent?: number;
  /** Releases what the backend holds open (a netlink socket). */
  close?(): void;
}

/** The program name. */
export const IPSET = "ipset";

/**
 * Builds the error of a failed `ipset restore`. ipset names the line ("Error in line 3: ...")
 * for kernel refusals but not for syntax errors ("Syntax error: '99999' is out of range"); then
 * the first line holding the quoted word is shown.
 */
export function ipsetRestoreError(payload: string, stderr: string, code: number): KipvsError {
  const msg = stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !/^Try `/.test(l))
    .map((l) => l.replace(/^ipset v[\d.]+: /, ""));
  const first = msg[0] ?? `exited with ${code}`;
  const m = /Error in line (\d+): (.*)$/.exec(first);
  let line = m ? Number(m[1]) : undefined;
  if (line === undefined) {
    const quoted = /'([^']+)'/.exec(first);
    if (quoted) line = findLine(payload, quoted[1]!);
  }
  const reason = m ? m[2]! : first;
  const where = line === undefined ? "" : ` at line ${line}`;
  const lines = line === undefined ? [] : excerptLines(payload, line);
  return new KipvsError(
    "exec",
    `${IPSET} restore failed${where}: ${reason}` + (lines.length ? `\n${lines.join("\n")}` : ""),
    { details: { program: IPSET, code, ...(line === undefined ? {} : { line }), stderr } },
  );
}

/** {@link Ipset} through the `ipset` program. */
export class KernelIpset implements Ipset {
  #exec: Exec;

  constructor(exec: Exec) {
    this.#exec = exec;
  }

  async save(): Promise<IpsetSnapshot> {
    const res = await this.#exec.run(IPSET, ["save"]);
    if (res.code !== 0) {
      throw new KipvsError("exec", `${IPSET} save exited with ${res.code}: ${res.stderr.trim()}`, {
        details: { program: IPSET, code: res.code },
      });
    }
    return parseIpsetSave(res.stdout);
  }

  async apply(ops: readonly IpsetOp[]): Promise<void> {
    if (ops.length === 0) return;
    const payload = restoreText(ops);
    const res = await this.#exec.run(IPSET, ["restore", "-exist"], { stdin: payload });
    if (res.code !== 0) throw ipsetRestoreError(payload, res.stderr, res.code);
  }
}
