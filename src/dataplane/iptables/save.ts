/**
 * Parsing `iptables-save` output: tables (`*nat`), chain declarations (`:KUBE-SERVICES - [0:0]`),
 * rules (`-A CHAIN ...`, kept as whole lines) and `COMMIT`.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";

/** One chain as saved. */
export interface SavedChain {
  name: string;
  /** "ACCEPT"/"DROP" for built-in chains, "-" for user chains. */
  policy: string;
  /** Whole rule lines ("-A KUBE-SERVICES ..."), in order. */
  rules: string[];
}

/** One table: its chains in the order they were declared. */
export type SavedTable = Map<string, SavedChain>;

/** Every table of a dump, by name ("nat", "filter", ...). */
export type IptablesSnapshot = Map<string, SavedTable>;

/** Parses `iptables-save` output; throws `exec` naming the line when it is not that format. */
export function parseIptablesSave(text: string): IptablesSnapshot {
  const tables: IptablesSnapshot = new Map();
  let table: SavedTable | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    const fail = (why: string) =>
      new KipvsError("exec", `cannot parse iptables-save line ${i + 1} "${line}": ${why}`, {
        details: { line: i + 1, text: line },
      });
    if (line === "" || line.startsWith("#")) return;
    if (line.startsWith("*")) {
      table = new Map();
      tables.set(line.slice(1), table);
    } else if (line === "COMMIT") {
      table = undefined;
    } else if (!table) {
      throw fail("outside of a table");
    } else if (line.startsWith(":")) {
      const [name, policy] = line.slice(1).split(" ");
      if (!name || !policy) throw fail("bad chain declaration");
      table.set(name, { name, policy, rules: [] });
    } else if (line.startsWith("-A ")) {
      const chain = line.split(" ")[1]!;
      const c = table.get(chain);
      if (!c) throw fail(`rule of undeclared chain ${chain}`);
      c.rules.push(line);
    } else {
      throw fail("unknown line");
    }
  });
  return tables;
}
