/**
 * The kernel test matrix: the tests that program a node run once per cell, a kernel with an
 * iptables backend, and carry the cell in their names ("[6.12 nft] kipvs run --once ..."), so
 * that the output shows the matrix and `deno test --filter "[6.12 nft]"` runs one cell.
 *
 * - `[6.1 legacy]`: Debian's User-Mode Linux 6.1 (no nf_tables for IPv4), `iptables-legacy`.
 * - `[6.12 nft]`: the project's 6.12 (scripts/kernel.sh), `iptables-nft` (nf_tables), as most
 *   nodes run today.
 *
 * A guest script learns its cell from `KIPVS_BACKEND` (tests/kernel/guest/lib.sh turns it into
 * `$IPTABLES`, `$IP6TABLES` and `KIPVS_FLAGS`).
 *
 * @module
 */

import type { KernelName } from "./kernels.ts";

/** An iptables backend (kipvs's `--iptables-backend` without `auto`). */
export type Backend = "legacy" | "nft";

/** One cell of the matrix. */
export interface Cell {
  kernel: KernelName;
  backend: Backend;
  /** "[6.1 legacy]", "[6.12 nft]": the prefix of the cell's test names. */
  label: string;
  /** kipvs's `--rules-backend` (default iptables). */
  rules?: "iptables" | "nftables";
}

/** Every cell, in the order their tests are declared. */
export const CELLS: readonly Cell[] = [
  { kernel: "6.1", backend: "legacy", label: "[6.1 legacy]" },
  { kernel: "6.12", backend: "nft", label: "[6.12 nft]" },
];

/**
 * kipvs's nftables rules backend on the 6.12 kernel (no ipset, no iptables rules). Not in
 * {@link CELLS}: the tests that prove that backend (traffic, golden state, diagnostics, daemon)
 * add it themselves, so the matrix grows by a few boots only.
 */
export const NFTABLES_CELL: Cell = {
  kernel: "6.12",
  backend: "nft",
  rules: "nftables",
  label: "[6.12 nftables]",
};

/** The cell of a kernel (each kernel has one). */
export function cellOf(kernel: KernelName): Cell {
  return CELLS.find((c) => c.kernel === kernel)!;
}

/** What a guest of the cell gets in its environment. */
export function cellEnv(cell: Cell): Record<string, string> {
  return { KIPVS_BACKEND: cell.backend, KIPVS_RULES: cell.rules ?? "iptables" };
}

/** `iptables-legacy-save`, `ip6tables-nft-save`, ...: a cell's program for a family. */
export function iptablesProgram(cell: Cell, family: 4 | 6, verb: "save" | "restore" | ""): string {
  return `${family === 4 ? "iptables" : "ip6tables"}-${cell.backend}${verb ? `-${verb}` : ""}`;
}

/** Options of {@link matrixTest}. */
export interface MatrixTestOptions {
  /** The cells to run in (default: all). */
  cells?: readonly Cell[];
}

/**
 * Declares `fn` as one Deno test per cell, named "<label> <name>". Cells run one after the other
 * within a test file; files run in parallel.
 */
export function matrixTest(
  name: string,
  fn: (t: Deno.TestContext, cell: Cell) => Promise<void>,
  options: MatrixTestOptions = {},
): void {
  for (const cell of options.cells ?? CELLS) {
    Deno.test(`${cell.label} ${name}`, (t) => fn(t, cell));
  }
}
