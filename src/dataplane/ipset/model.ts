/**
 * An in-memory ipset kernel for unit tests: it takes `ipset restore` payloads line by line and
 * answers with ipset 7.17's messages and exit codes ("Error in line N: ..." for refusals, a
 * line-less "Syntax error: ..." for malformed entries), and prints `ipset save` text. The
 * kernel tests check the real ipset against the same cases.
 *
 * @module
 */

import type { Family } from "../../proxy/config.ts";
import { parseEntry } from "./entry.ts";
import type { SetType } from "./sets.ts";

/** One set held by the model. */
export interface ModelSet {
  name: string;
  type: SetType;
  family: Family;
  /** Creation options in save order ("family", "hashsize", "maxelem" / "range"). */
  options: [string, string][];
  entries: Set<string>;
}

/** What a program run answered. */
export interface ModelAnswer {
  code: number;
  stdout: string;
  stderr: string;
}

const TYPES = new Set<string>([
  "hash:ip",
  "hash:ip,port",
  "hash:ip,port,ip",
  "hash:ip,port,net",
  "bitmap:port",
]);

const PREFIX = "ipset v7.17: ";

class LineError extends Error {
  constructor(readonly text: string, readonly withLine = true) {
    super(text);
  }
}

/** The model. `isReferenced` tells whether a kernel component (iptables) uses a set. */
export class IpsetModel {
  readonly sets = new Map<string, ModelSet>();
  /** Whether iptables rules use a set (such a set cannot be destroyed). */
  isReferenced: (name: string) => boolean = () => false;

  /** Applies a payload like `ipset restore [-exist]`. */
  restore(payload: string, options: { exist?: boolean } = {}): ModelAnswer {
    const lines = payload.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === "" || line.startsWith("#")) continue;
      try {
        this.#apply(line.split(/\s+/), options.exist ?? false);
      } catch (err) {
        if (!(err instanceof LineError)) throw err;
        const where = err.withLine ? `Error in line ${i + 1}: ` : "";
        return { code: 1, stdout: "", stderr: `${PREFIX}${where}${err.text}\n` };
      }
    }
    return { code: 0, stdout: "", stderr: "" };
  }

  /** The text `ipset save` prints. */
  saveText(): string {
    const out: string[] = [];
    for (const s of this.sets.values()) {
      const opts = s.options.map(([k, v]) => `${k} ${v}`).join(" ");
      const extra = s.type === "bitmap:port" ? "" : " bucketsize 12 initval 0x00000000";
      out.push(`create ${s.name} ${s.type} ${opts}${extra}`);
      for (const e of s.entries) out.push(`add ${s.name} ${e}`);
    }
    return out.length ? out.join("\n") + "\n" : "";
  }

  #set(name: string | undefined): ModelSet {
    const set = name === undefined ? undefined : this.sets.get(name);
    if (!set) throw new LineError("The set with the given name does not exist");
    return set;
  }

  #apply(words: string[], exist: boolean): void {
    const [verb, name, arg] = words;
    switch (verb) {
      case "create":
        return this.#create(words, exist);
      case "add":
      case "del": {
        const set = this.#set(name);
        const parsed = parseEntry(set.type, set.family, arg ?? "");
        if (parsed.error !== undefined) {
          throw new LineError(`Syntax error: '${arg ?? ""}' is invalid: ${parsed.error}`, false);
        }
        const has = set.entries.has(parsed.entry);
        if (verb === "add") {
          if (has && !exist) {
            throw new LineError("Element cannot be added to the set: it's already added");
          }
          const max = Number(set.options.find(([k]) => k === "maxelem")?.[1] ?? Infinity);
          if (!has && set.entries.size >= max) {
            throw new LineError("Hash is full, cannot add more elements");
          }
          set.entries.add(parsed.entry);
        } else {
          if (!has && !exist) {
            throw new LineError("Element cannot be deleted from the set: it's not added");
          }
          set.entries.delete(parsed.entry);
        }
        return;
      }
      case "flush":
        this.#set(name).entries.clear();
        return;
      case "destroy":
        this.#set(name);
        if (this.isReferenced(name!)) {
          throw new LineError("Set cannot be destroyed: it is in use by a kernel component");
        }
        this.sets.delete(name!);
        return;
      default:
        throw new LineError(`No command specified: unknown argument ${verb}`, false);
    }
  }

  #create(words: string[], exist: boolean): void {
    const [, name, type] = words;
    if (name === undefined || type === undefined || !TYPES.has(type)) {
      throw new LineError(`Syntax error: Unknown set type ${type ?? ""}`, false);
    }
    const given = new Map<string, string>();
    for (let k = 3; k + 1 < words.length; k += 2) given.set(words[k]!, words[k + 1]!);
    const options: [string, string][] = type === "bitmap:port"
      ? [["range", given.get("range") ?? "0-65535"]]
      : [
        ["family", given.get("family") ?? "inet"],
        ["hashsize", given.get("hashsize") ?? "1024"],
        ["maxelem", given.get("maxelem") ?? "65536"],
      ];
    const family: Family = given.get("family") === "inet6" ? 6 : 4;
    const cur = this.sets.get(name);
    if (cur) {
      const same = cur.type === type && JSON.stringify(cur.options) === JSON.stringify(options);
      if (same && exist) return;
      throw new LineError("Set cannot be created: set with the same name already exists");
    }
    this.sets.set(name, { name, type: type as SetType, family, options, entries: new Set() });
  }
}
