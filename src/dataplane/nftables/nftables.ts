/**
 * The nftables backend: kipvs's tables read with `nft list table` and written as whole
 * transactions with `nft -f -` (one process, one atomic nf_tables transaction for both
 * families), and set elements written over netlink (netlink.ts) without a process.
 *
 * Why `nft` for rules: the rules change only when which sets are empty changes (a first
 * service of a kind, a last one gone), their text is what `nft list` prints back (so desired and
 * held compare as text, and the golden tests read the same), and encoding nf_tables
 * expressions over netlink by hand would re-implement libnftnl. Elements, which every endpoint
 * change touches, go over netlink. Measured in the 6.12 test kernel: see README "Choosing a
 * rules backend".
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { Family } from "../../net/family.ts";
import type { Exec } from "../exec.ts";
import { NFT_TABLE, nftFamily } from "./layout.ts";
import { type ElementOp, NftNetlink } from "./netlink.ts";

/** The program (Debian's `nftables` package). */
export const NFT = "nft";

/** What kipvs needs of nftables. */
export interface Nftables {
  /** kipvs's table of `family` as `nft list table` prints it; undefined when there is none. */
  list(family: Family): Promise<string | undefined>;
  /** Runs an nft script (`nft -f -`): one transaction, all or nothing. */
  run(script: string): Promise<void>;
  /** Adds and deletes elements over netlink; returns the transactions it took. */
  applyElements(ops: readonly ElementOp[]): Promise<number>;
  /** Whether kipvs's table of `family` (or the table `name`) exists (netlink, no process). */
  hasTable(family: Family, name?: string): Promise<boolean>;
  /** Deletes kipvs's tables (or the tables `name`) of these families, in one transaction. */
  deleteTables(families: readonly Family[], name?: string): Promise<void>;
  /** Netlink messages sent so far. */
  readonly messagesSent: number;
}

/** {@link Nftables} of the network namespace the process is in. */
export class KernelNftables implements Nftables {
  #exec: Exec;
  #nl: NftNetlink | undefined;

  constructor(options: { exec: Exec; netlink?: NftNetlink }) {
    this.#exec = options.exec;
    this.#nl = options.netlink;
  }

  get #netlink(): NftNetlink {
    return this.#nl ??= NftNetlink.open();
  }

  get messagesSent(): number {
    return this.#nl?.messagesSent ?? 0;
  }

  async list(family: Family): Promise<string | undefined> {
    const res = await this.#exec.run(NFT, ["list", "table", nftFamily(family), NFT_TABLE]);
    if (res.code === 0) return res.stdout;
    if (/No such file or directory/.test(res.stderr)) return undefined;
    throw nftError(`nft list table ${nftFamily(family)} ${NFT_TABLE}`, res.code, res.stderr);
  }

  async run(script: string): Promise<void> {
    if (script === "") return;
    const res = await this.#exec.run(NFT, ["-f", "-"], { stdin: script });
    if (res.code !== 0) throw nftError("nft -f -", res.code, res.stderr, script);
  }

  applyElements(ops: readonly ElementOp[]): Promise<number> {
    return ops.length === 0 ? Promise.resolve(0) : this.#netlink.applyElements(ops);
  }

  hasTable(family: Family, name?: string): Promise<boolean> {
    return this.#netlink.hasTable(family, name);
  }

  deleteTables(families: readonly Family[], name?: string): Promise<void> {
    return this.#netlink.deleteTables(families, name);
  }
}

/**
 * An `exec` error for a failed nft run: its first error lines, and for a script the line nft
 * names (nft says "/dev/stdin:LINE:COL-COL: Error: ..."), so the log shows the refused rule.
 */
export function nftError(what: string, code: number, stderr: string, script?: string): KipvsError {
  const lines = stderr.trim().split("\n").slice(0, 3);
  let rule = "";
  const at = /^\/dev\/stdin:(\d+):/.exec(lines[0] ?? "");
  if (at && script) rule = ` (script line ${at[1]}: ${script.split("\n")[Number(at[1]) - 1]})`;
  return new KipvsError("exec", `${what} exited with ${code}: ${lines.join(" | ")}${rule}`, {
    details: { program: NFT, code },
  });
}
