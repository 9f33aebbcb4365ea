/**
 * The kernel's sets as data ({@link IpsetSnapshot}), and parsing `ipset save` into it: one
 * `create NAME TYPE OPTIONS...` line per set, then one `add NAME ENTRY [EXTENSIONS...]` line per
 * entry. The netlink dump (dump.ts) decodes into the same form.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import type { Family } from "../../net/family.ts";
import { foreignMember, type SetMember, type SetMembers } from "../members.ts";
import { parseMember } from "./entry.ts";
import type { CreateOptions } from "./ops.ts";
import { isSetType } from "./sets.ts";

/** A set's creation options as the kernel holds them. */
export interface SetOptions extends Omit<CreateOptions, "type"> {
  /**
   * Options kipvs does not model, as `ipset save` words ("counters", "timeout 0", "bucketsize
   * 12", "initval 0x6f2b33a1"): shown to humans, never compared.
   */
  other: string[];
}

/** A set as the kernel holds it. */
export interface KernelSet {
  name: string;
  /** "hash:ip,port", "bitmap:port", ... (any type, also those kipvs never creates). */
  type: string;
  options: SetOptions;
  /**
   * Members by key. Members of a type kipvs writes are typed; others (another type, an entry
   * with extensions) are {@link foreignMember}s: their text is their key.
   */
  members: SetMembers;
}

/** Every set of the kernel, by name, in the order the kernel listed them. */
export type IpsetSnapshot = Map<string, KernelSet>;

// Options that are flags, with no value after them.
const FLAGS = new Set(["counters", "comment", "skbinfo", "forceadd", "nomatch"]);

/** Reads the options of a `create` line (the words after the type). */
function parseOptions(words: readonly string[]): SetOptions {
  const o: SetOptions = { other: [] };
  for (let k = 0; k < words.length; k++) {
    const key = words[k]!;
    if (FLAGS.has(key)) {
      o.other.push(key);
      continue;
    }
    const value = words[++k] ?? "";
    const range = /^(\d+)-(\d+)$/.exec(value);
    if (key === "family" && (value === "inet" || value === "inet6")) {
      o.family = value === "inet" ? 4 : 6;
    } else if ((key === "hashsize" || key === "maxelem") && /^\d+$/.test(value)) {
      o[key] = Number(value);
    } else if (key === "range" && range) o.range = [Number(range[1]), Number(range[2])];
    else o.other.push(`${key} ${value}`);
  }
  return o;
}

/** An entry of `set` as a member: typed when kipvs writes its type, else its text. */
function entryMember(set: KernelSet, text: string): SetMember {
  if (!isSetType(set.type)) return foreignMember(text);
  const family: Family = set.options.family ?? 4;
  return parseMember(set.type, family, text).member ?? foreignMember(text);
}

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
      const options = parseOptions(words.slice(3));
      sets.set(name, { name, type: third, options, members: new Map() });
    } else if (verb === "add") {
      const set = sets.get(name);
      if (!set) throw fail(`entry of set ${name} before its create line`);
      const m = entryMember(set, third);
      set.members.set(m.key, m);
    } else {
      throw fail(`unknown command "${verb}"`);
    }
  });
  return sets;
}

/** The options of a set as `ipset save` prints them after its type ("family inet hashsize 1024"). */
export function optionsText(o: SetOptions): string {
  const words: string[] = [];
  if (o.family !== undefined) words.push(`family ${o.family === 4 ? "inet" : "inet6"}`);
  if (o.range) words.push(`range ${o.range[0]}-${o.range[1]}`);
  if (o.hashsize !== undefined) words.push(`hashsize ${o.hashsize}`);
  if (o.maxelem !== undefined) words.push(`maxelem ${o.maxelem}`);
  return [...words, ...o.other].join(" ");
}
