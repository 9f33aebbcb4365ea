/**
 * Aligned text tables for terminal output, coloured only when writing to a terminal.
 *
 * @module
 */

/** Colour roles for cells. */
export type Tone = "good" | "bad" | "warn" | "dim" | "plain";

const CODES: Record<Tone, string> = {
  good: "\x1b[32m",
  bad: "\x1b[31m",
  warn: "\x1b[33m",
  dim: "\x1b[2m",
  plain: "",
};

/** A cell: text, optionally with a tone. */
export type Cell = string | { text: string; tone: Tone };

/** Options of {@link renderTable}. */
export interface TableOptions {
  /** Emit ANSI colours (only for terminals). */
  color?: boolean;
  /** Columns after which nothing is padded (the last one never is). */
  indent?: string;
  /** Indexes of the columns aligned right (numbers); the others align left. */
  alignRight?: readonly number[];
}

/** Renders rows under a header, columns padded to the widest cell. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly Cell[])[],
  options: TableOptions = {},
): string {
  const text = (c: Cell) => typeof c === "string" ? c : c.text;
  // A loop, not Math.max(...rows): spreading 100,000 rows overflows the call stack.
  const widths = header.map((h, i) =>
    rows.reduce((w, r) => Math.max(w, text(r[i] ?? "").length), h.length)
  );
  const line = (cells: readonly Cell[], bold: boolean) =>
    (options.indent ?? "") + cells.map((c, i) => {
      const t = text(c);
      const padded = options.alignRight?.includes(i)
        ? t.padStart(widths[i] ?? 0)
        : i === cells.length - 1
        ? t
        : t.padEnd(widths[i] ?? 0);
      const tone = typeof c === "string" ? "plain" : c.tone;
      if (!options.color) return padded;
      if (bold) return `\x1b[1m${padded}\x1b[0m`;
      return tone === "plain" ? padded : `${CODES[tone]}${padded}\x1b[0m`;
    }).join("  ").trimEnd();
  return [line(header, true), ...rows.map((r) => line(r, false))].join("\n") + "\n";
}

/** Whether to colour output written to stdout: a terminal, and NO_COLOR not set. */
export function stdoutWantsColor(): boolean {
  try {
    return Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  } catch {
    return false;
  }
}
