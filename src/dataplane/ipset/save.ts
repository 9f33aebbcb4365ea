/**
 * Parsing `ipset save`: one `create NAME TYPE OPTIONS...` line per set, then one
 * `add NAME ENTRY [EXTENSIONS...]` line per entry.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";

/** A set as the kernel holds it. */
export interface KernelSet {
  name: string;
  /** "hash:ip,port", "bitmap:port", ... (any type, also those kipvs never creates). */
  type: string;
  /** Creation options as printed ("family" → "inet", "range" → "0-65535", "maxelem" → ...). */
  options: Map<string, string>;
  /** Entries as printed (the first word after the set name). */
  entries: Set<string>;
}

/** Every set of the kernel, by name, in the order `ipset save` printed them. */
export type IpsetSnapshot = Map<string, KernelSet>;

// Options that are flags, with no value after them.
const FLAGS = new Set(["counters", "comment", "skbinfo", "forceadd", "nomatch"]);

/** Parses `ipset save` output; throws `exec` naming the line when it is not ipset's format. */
export function parseIpsetSave(text: string): IpsetSnapshot {
  const sets: IpsetSnapshot = new Map();
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const words = line.split(/\s+/);
    const [verb, name, third] = words;
    const fail = (why: string) =>
      new KipvsError("exec", `cannot parse ipset save line ${i + 1} "${line}": ${why}`, {
        details: { line: i + 1, text: line },
      });
    if (name === undefined || third === undefined) throw fail("too few words");
    if (verb === "create") {
      const options = new Map<string, string>();
      for (let k = 3; k < words.length; k++) {
        const key = words[k]!;
        if (FLAGS.has(key)) options.set(key, "");
        else options.set(key, words[++k] ?? "");
      }
      sets.set(name, { name, type: third, options, entries: new Set() });
    } else if (verb === "add") {
      const set = sets.get(name);
      if (!set) throw fail(`entry of set ${name} before its create line`);
      set.entries.add(third);
    } else {
      throw fail(`unknown command "${verb}"`);
    }
  });
  return sets;
}
