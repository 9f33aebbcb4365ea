/**
 * Tests write ipset changes as `ipset restore` text for readability; {@link opsOf} reads such
 * text into the typed ops (src/dataplane/ipset/ops.ts) kipvs applies: `create NAME TYPE` with
 * kube-proxy's options (`family`, `hashsize`, `maxelem`, `range`), `add` / `del NAME ENTRY`,
 * `destroy NAME`, `flush NAME`; blank lines and `#` comments are skipped.
 *
 * @module
 */

import { isSetType, type SetType } from "../../../src/dataplane/ipset/sets.ts";
import { setSpec } from "../../../src/dataplane/ipset/spec.ts";
import type { Family } from "../../../src/net/family.ts";
import type { CreateOptions, IpsetOp } from "../../../src/dataplane/ipset/ops.ts";
import { parseMember } from "../../../src/dataplane/ipset/entry.ts";
import { foreignMember, type SetMember, type SetMembers } from "../../../src/dataplane/members.ts";

/**
 * A member from its text, its type read off the text's shape: "30080" a port, "10.96.0.1" an
 * address, then ",proto:port", then ",ip2" or ",net/prefix". Text of another shape (a hash:net
 * entry, say) is a foreign member, as kipvs reads it from `ipset save`.
 */
export function member(text: string, shape?: { type: SetType; family?: Family }): SetMember {
  const parts = text.split(",");
  const family = shape?.family ?? (parts[0]!.includes(":") ? 6 : 4);
  const type = shape
    ? shape.type
    : /^\d+$/.test(text)
    ? "bitmap:port"
    : parts.length === 1
    ? "hash:ip"
    : parts.length === 2
    ? "hash:ip,port"
    : parts[2]!.includes("/")
    ? "hash:ip,port,net"
    : "hash:ip,port,ip";
  return parseMember(type, family, text).member ?? foreignMember(text);
}

/** Members by key from their texts. */
export function members(...texts: string[]): SetMembers {
  return new Map(texts.map((t) => member(t)).map((m) => [m.key, m]));
}

/** Sets of members from set name → member texts. */
export function setsOf(sets: Record<string, string[]>): Map<string, SetMembers> {
  return new Map(Object.entries(sets).map(([name, texts]) => [name, members(...texts)]));
}

/** One command of a payload, with its 1-based line number. */
export type PayloadCommand =
  | { verb: "create"; line: number; set: string; create: CreateOptions }
  | { verb: "add" | "del"; line: number; set: string; entry: string }
  | { verb: "destroy" | "flush"; line: number; set: string };

/** The commands of a payload, or the first line {@link parsePayload} does not take. */
export type ParsedPayload =
  | { commands: PayloadCommand[]; unsupported?: undefined }
  | { commands?: undefined; unsupported: { line: number; reason: string } };

/** A set name the kernel takes: 1-31 bytes. */
function validName(name: string | undefined): name is string {
  return name !== undefined && name.length > 0 && name.length < 32 && !/[^\x21-\x7e]/.test(name);
}

function u32(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 0xffff_ffff ? n : undefined;
}

function portRange(text: string | undefined): [number, number] | undefined {
  const m = text === undefined ? null : /^(\d{1,5})-(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = Number(m[2]);
  return from <= to && to <= 65535 ? [from, to] : undefined;
}

/** The options of `create NAME TYPE OPTIONS...`, or why they are not taken. */
function createOptions(type: string, words: string[]): CreateOptions | string {
  if (!isSetType(type)) return `set type ${type}`;
  const o: CreateOptions = { type: type };
  const bitmap = type === "bitmap:port";
  for (let k = 0; k < words.length; k += 2) {
    const key = words[k]!;
    const value = words[k + 1];
    if (key === "family" && !bitmap && (value === "inet" || value === "inet6")) {
      o.family = value === "inet" ? 4 : 6;
    } else if (key === "hashsize" && !bitmap && u32(value) !== undefined) {
      o.hashsize = u32(value);
    } else if (key === "maxelem" && !bitmap && u32(value) !== undefined) {
      o.maxelem = u32(value);
    } else if (key === "range" && bitmap && portRange(value)) {
      o.range = portRange(value);
    } else {
      return `create option "${key}${value === undefined ? "" : ` ${value}`}"`;
    }
  }
  if (bitmap && !o.range) return "bitmap:port without range";
  if (!bitmap) o.family ??= 4;
  return o;
}

/** Splits a payload into commands; stops at the first line it does not take. */
export function parsePayload(payload: string): ParsedPayload {
  const commands: PayloadCommand[] = [];
  const lines = payload.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.trim();
    if (text === "" || text.startsWith("#")) continue;
    const line = i + 1;
    const words = text.split(/\s+/);
    const [verb, set] = words;
    const unsupported = (reason: string): ParsedPayload => ({ unsupported: { line, reason } });
    if (!validName(set)) return unsupported(`set name "${set ?? ""}"`);
    if (verb === "add" || verb === "del") {
      if (words.length !== 3) return unsupported(`${verb} with options`);
      commands.push({ verb, line, set, entry: words[2]! });
    } else if (verb === "destroy" || verb === "flush") {
      if (words.length !== 2) return unsupported(`${verb} with more than a set name`);
      commands.push({ verb, line, set });
    } else if (verb === "create") {
      const o = words[2] === undefined ? "no set type" : createOptions(words[2], words.slice(3));
      if (typeof o === "string") return unsupported(o);
      commands.push({ verb, line, set, create: o });
    } else {
      return unsupported(`command "${verb}"`);
    }
  }
  return { commands };
}

/**
 * The ops of `text`; throws on a line {@link parsePayload} does not take. Members are read as
 * their set's type has them: a set created earlier in the text, else kube-proxy's set of that
 * name, else the type the text's shape suggests.
 */
export function opsOf(text: string): IpsetOp[] {
  const parsed = parsePayload(text);
  if (parsed.unsupported) {
    throw new Error(`line ${parsed.unsupported.line}: ${parsed.unsupported.reason}`);
  }
  const shapes = new Map<string, { type: SetType; family?: Family }>();
  return parsed.commands.map((c): IpsetOp => {
    if (c.verb === "create") {
      shapes.set(c.set, c.create);
      return { op: "create", set: c.set, create: c.create };
    }
    if (c.verb === "add" || c.verb === "del") {
      const shape = shapes.get(c.set) ?? setSpec(c.set);
      return { op: c.verb, set: c.set, member: member(c.entry, shape) };
    }
    return { op: c.verb, set: c.set };
  });
}
