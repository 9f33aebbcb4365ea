/**
 * Reads `nft list table` text back into the form render.ts writes ({@link NftTable}): set
 * declarations with their elements (joined across nft's wrapped lines), chains with their header
 * and rules. Anything else a table may hold (maps, objects, flowtables) is kept as unknown
 * blocks, so a sync knows the table is not as kipvs writes it.
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import type { NftChain, NftSet, NftTable } from "./render.ts";

/** A table read back, with what kipvs does not write. */
export interface ParsedNftTable extends NftTable {
  comment?: string;
  /** Lines of blocks that are neither sets nor chains ("map x {", ...). */
  unknown: string[];
}

/** Parses one `nft list table <family> <name>` output. */
export function parseNftTable(text: string, family: Family): ParsedNftTable {
  const t: ParsedNftTable = { family, sets: [], chains: [], unknown: [] };
  const lines = text.split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!.trim();
    i++;
    let m: RegExpExecArray | null;
    if ((m = /^comment "(.*)"$/.exec(line))) t.comment = m[1]!;
    else if ((m = /^set (\S+) \{$/.exec(line))) i = parseSet(lines, i, m[1]!, t.sets);
    else if ((m = /^chain (\S+) \{$/.exec(line))) i = parseChain(lines, i, m[1]!, t.chains);
    else if (/^\S+ \S+ \{$/.test(line) && !line.startsWith("table ")) {
      t.unknown.push(line);
      while (i < lines.length && lines[i]!.trim() !== "}") i++;
      i++;
    }
  }
  return t;
}

function parseSet(lines: string[], i: number, name: string, out: NftSet[]): number {
  const s: NftSet = { name, type: "", interval: false, comment: "", elements: [] };
  for (; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === "}") break;
    let m: RegExpExecArray | null;
    if ((m = /^type (.*)$/.exec(l))) s.type = m[1]!;
    else if (/^flags .*interval/.test(l)) s.interval = true;
    else if ((m = /^comment "(.*)"$/.exec(l))) s.comment = m[1]!;
    else if (l.startsWith("elements = {")) {
      // nft wraps long lists, a few elements a line: test each line's end only (a growing string
      // tested at every line is quadratic: 25,000 elements took 13 s on the host).
      const parts = [l.slice("elements = {".length)];
      let last = l;
      while (!last.endsWith("}") && i + 1 < lines.length) parts.push(last = lines[++i]!.trim());
      const body = parts.join(" ").trimEnd().slice(0, -1);
      for (const e of body.split(",")) {
        const t = e.trim();
        if (t !== "") s.elements.push(t);
      }
    }
  }
  out.push(s);
  return i + 1;
}

function parseChain(lines: string[], i: number, name: string, out: NftChain[]): number {
  const c: NftChain = { name, rules: [] };
  for (; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === "}") break;
    if (l === "") continue;
    if (l.startsWith("type ") && l.includes(" hook ") && c.rules.length === 0) c.header = l;
    else c.rules.push(l);
  }
  out.push(c);
  return i + 1;
}
