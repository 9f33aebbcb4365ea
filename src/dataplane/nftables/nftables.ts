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
import { NFT_TABLE, nftFamily, nftSetName } from "./layout.ts";
import { type ParsedNftTable, parseNftTable } from "./parse.ts";
import { KUBE_SETS, type SetType } from "../ipset/sets.ts";

/** The kind of each of kipvs's nft sets, by name. */
const SET_TYPE_OF = new Map<string, SetType>(KUBE_SETS.map((k) => [nftSetName(k.base), k.type]));
import { type ElementOp, NftNetlink } from "./netlink.ts";

/** The program (Debian's `nftables` package). */
export const NFT = "nft";

/** What kipvs needs of nftables. */
export interface Nftables {
  /**
   * kipvs's table of `family`, read back into the form render.ts writes (chains with their
   * rules, sets with their elements); undefined when there is none.
   */
  read(family: Family): Promise<ParsedNftTable | undefined>;
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
  /** Closes the netlink socket, if one was opened. */
  close?(): void;
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

  /**
   * Rules with `nft --terse list table` (no elements: 0.35 s where the whole listing of 22,500
   * elements took 8.7 s in the test kernel), elements over netlink, one dump per set.
   */
  async read(family: Family): Promise<ParsedNftTable | undefined> {
    const args = ["--terse", "list", "table", nftFamily(family), NFT_TABLE];
    const res = await this.#exec.run(NFT, args);
    if (res.code !== 0) {
      if (/No such file or directory/.test(res.stderr)) return undefined;
      throw nftError(`nft ${args.join(" ")}`, res.code, res.stderr);
    }
    const t = parseNftTable(res.stdout, family);
    for (const s of t.sets) {
      const type = SET_TYPE_OF.get(s.name);
      if (type) s.elements = await this.#netlink.readElements(family, s.name, type);
    }
    return t;
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

  close(): void {
    this.#nl?.close();
    this.#nl = undefined;
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
