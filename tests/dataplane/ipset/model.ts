/**
 * An in-memory ipset kernel for unit tests: it takes `ipset restore` payloads line by line and
 * answers with ipset 7.17's messages and exit codes ("Error in line N: ..." for refusals, a
 * line-less "Syntax error: ..." for malformed entries), and prints `ipset save` text. The
 * kernel tests check the real ipset against the same cases.
 *
 * @module
 */

import type { Family } from "../../../src/net/family.ts";
import { parseMember } from "../../../src/dataplane/ipset/entry.ts";
import { isSetType, type SetType } from "../../../src/dataplane/ipset/sets.ts";

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

const PREFIX = "ipset v7.17: ";

class LineError extends Error {
  /** The line a batched entry came from (set when the kernel refuses it). */
  line?: number;
  constructor(readonly text: string, readonly withLine = true, readonly code = 1) {
    super(text);
  }
}

interface Pending {
  verb: "add" | "del";
  set: ModelSet;
  items: { line: number; entry: string }[];
}

/**
 * The model. `isReferenced` tells whether a kernel component (iptables) uses a set.
 *
 * Like ipset, consecutive add (or del) lines of one set are sent to the kernel as one batch,
 * when another command comes or the payload ends. A refusal the program finds itself (unknown
 * set, syntax error) drops the batch waiting to be sent; a refusal by the kernel keeps the
 * entries of its batch before the refused one. Commands before are applied either way.
 */
export class IpsetModel {
  readonly sets = new Map<string, ModelSet>();
  /** Whether iptables rules use a set (such a set cannot be destroyed). */
  isReferenced: (name: string) => boolean = () => false;

  /** Applies a payload like `ipset restore [-exist]`. */
  restore(payload: string, options: { exist?: boolean } = {}): ModelAnswer {
    const exist = options.exist ?? false;
    const lines = payload.split("\n");
    let pending: Pending | undefined;
    const send = () => {
      const batch = pending;
      pending = undefined;
      for (const item of batch?.items ?? []) {
        try {
          this.#entry(batch!.verb, batch!.set, item.entry, exist);
        } catch (err) {
          if (err instanceof LineError) err.line = item.line;
          throw err;
        }
      }
    };
    let lineNo = 0;
    try {
      for (let i = 0; i < lines.length; i++) {
        lineNo = i + 1;
        const line = lines[i]!.trim();
        if (line === "" || line.startsWith("#")) continue;
        const words = line.split(/\s+/);
        const [verb, name, arg] = words;
        if (verb === "add" || verb === "del") {
          const set = name === undefined ? undefined : this.sets.get(name);
          if (!set) {
            pending = undefined;
            throw new LineError("The set with the given name does not exist");
          }
          const parsed = parseMember(set.type, set.family, arg ?? "");
          if (parsed.error !== undefined) {
            pending = undefined;
            throw new LineError(`Syntax error: '${arg ?? ""}' is invalid: ${parsed.error}`, false);
          }
          if (pending && (pending.verb !== verb || pending.set !== set)) send();
          pending ??= { verb, set, items: [] };
          pending.items.push({ line: lineNo, entry: parsed.member.key });
          continue;
        }
        if (!["create", "destroy", "flush"].includes(verb!)) {
          pending = undefined;
          throw new LineError(`No command specified: unknown argument ${verb}`, false, 2);
        }
        send();
        this.#command(words, exist);
      }
      lineNo = lines.length;
      send();
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      const at = err.line ?? lineNo;
      const where = err.withLine ? `Error in line ${at}: ` : "";
      const help = err.code === 2 ? "Try `ipset help' for more information.\n" : "";
      return { code: err.code, stdout: "", stderr: `${PREFIX}${where}${err.text}\n${help}` };
    }
    return { code: 0, stdout: "", stderr: "" };
  }

  #entry(verb: "add" | "del", set: ModelSet, entry: string, exist: boolean): void {
    const has = set.entries.has(entry);
    if (verb === "add") {
      if (has && !exist) {
        throw new LineError("Element cannot be added to the set: it's already added");
      }
      const max = Number(set.options.find(([k]) => k === "maxelem")?.[1] ?? Infinity);
      if (!has && set.entries.size >= max) {
        throw new LineError("Hash is full, cannot add more elements");
      }
      set.entries.add(entry);
    } else {
      if (!has && !exist) {
        throw new LineError("Element cannot be deleted from the set: it's not added");
      }
      set.entries.delete(entry);
    }
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

  #command(words: string[], exist: boolean): void {
    const [verb, name] = words;
    if (verb === "create") return this.#create(words, exist);
    const set = name === undefined ? undefined : this.sets.get(name);
    if (!set) {
      if (verb === "destroy" && exist) return;
      throw new LineError("The set with the given name does not exist");
    }
    if (verb === "flush") {
      set.entries.clear();
    } else {
      if (this.isReferenced(set.name)) {
        throw new LineError("Set cannot be destroyed: it is in use by a kernel component");
      }
      this.sets.delete(set.name);
    }
  }

  #create(words: string[], exist: boolean): void {
    const [, name, type] = words;
    if (name === undefined || type === undefined || !isSetType(type)) {
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
    this.sets.set(name, { name, type: type, family, options, entries: new Set() });
  }
}
