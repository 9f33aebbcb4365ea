/**
 * Showing the line of a restore payload that a program refused, with its neighbours, for error
 * messages of `ipset restore` and `iptables-restore`.
 *
 * @module
 */

/** Lines `line - context` .. `line + context` of `text` (1-based), the failing one marked ">". */
export function excerptLines(text: string, line: number, context = 2): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const from = Math.max(1, line - context);
  const to = Math.min(lines.length, line + context);
  const width = String(to).length;
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    out.push(`${n === line ? ">" : " "} ${String(n).padStart(width)} | ${lines[n - 1]}`);
  }
  return out;
}

/** The 1-based number of the first line of `text` containing `needle`, or undefined. */
export function findLine(text: string, needle: string): number | undefined {
  const i = text.split("\n").findIndex((l) => l.includes(needle));
  return i < 0 ? undefined : i + 1;
}
