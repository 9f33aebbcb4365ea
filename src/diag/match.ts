/**
 * Evaluating one parsed rule's match clauses against a packet, with the matches kube-proxy's
 * IPVS mode and the common node rules use: addresses, protocol, `set`, `addrtype`, `mark`,
 * `conntrack`/`state`, `ipvs`, `physdev`, ports (`tcp`/`udp`/`sctp`, `multiport`) and `comment`.
 * What a trace cannot know (the input interface, a bridge port, the source port) is "unknown":
 * such a rule is taken as not matching and the trace says so.
 *
 * @module
 */

import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import { cidrContains, parseCIDR, parseIP } from "../net/ip.ts";
import type { Family } from "../net/family.ts";
import type { Clause, ParsedRule } from "./rule.ts";
import { lookupSet, type SetLookup, type SetPacket } from "./setmatch.ts";

/** A packet on its way through the hooks. */
export interface TracePacket extends SetPacket {
  family: Family;
  /** The fwmark (KUBE-MARK-MASQ sets 0x4000). */
  mark: number;
  /** conntrack states it is in: NEW for the first packet, DNAT once IPVS rewrote it. */
  ctstate: ReadonlySet<string>;
  /** The virtual server IPVS scheduled it for (what `-m ipvs` matches). */
  ipvs?: { protocol: number; address: string; port: number };
}

/** What evaluation reads besides the packet. */
export interface MatchContext {
  /** The node's local addresses (addrtype LOCAL). */
  local: ReadonlySet<string>;
  ipsets: IpsetSnapshot;
  /** Whether the packet entered through a bridge port (physdev); a trace assumes not. */
  bridged: boolean;
}

/** The outcome of a rule's matches. */
export interface RuleMatch {
  /** All clauses held. */
  matched: boolean;
  /** Some clause could not be decided and none failed: taken as not matching. */
  unknown: boolean;
  /** Why clauses could not be decided, and assumptions made. */
  notes: string[];
  /** Every ipset lookup, in order. */
  lookups: SetLookup[];
}

const PROTO_NUMBER: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

type Tri = boolean | undefined;

interface ClauseOutcome {
  ok: Tri;
  note?: string;
  lookup?: SetLookup;
}

function inNet(text: string, address: string): boolean {
  const ip = parseIP(address);
  const net = parseCIDR(text.includes("/") ? text : `${text}/${text.includes(":") ? 128 : 32}`);
  return ip !== undefined && net !== undefined && cidrContains(net, ip);
}

function isLocal(address: string, ctx: MatchContext): boolean {
  return ctx.local.has(address) || inNet("127.0.0.0/8", address) || address === "::1";
}

function portIn(spec: string, port: number | undefined): Tri {
  if (port === undefined) return undefined;
  return spec.split(",").some((p) => {
    const [lo, hi] = p.split(":");
    return port >= Number(lo) && port <= Number(hi ?? lo);
  });
}

function basic(c: Clause, p: TracePacket): ClauseOutcome {
  const arg = c.args[0] ?? "";
  switch (c.option) {
    case "s":
      return { ok: inNet(arg, p.src) };
    case "d":
      return { ok: inNet(arg, p.dst) };
    case "p":
      return {
        ok: arg === "all" || arg === "0" || arg === p.protocol ||
          arg === String(PROTO_NUMBER[p.protocol]),
      };
    case "i":
    case "o":
      return { ok: undefined, note: `interface match -${c.option} ${arg} is not traced` };
  }
  return { ok: undefined, note: `option ${c.option} is not traced` };
}

function addrtype(c: Clause, p: TracePacket, ctx: MatchContext): ClauseOutcome {
  if (c.option !== "src-type" && c.option !== "dst-type") {
    return { ok: undefined, note: `addrtype --${c.option} is not traced` };
  }
  const types = (c.args[0] ?? "").split(",");
  if (types.some((t) => t !== "LOCAL")) {
    return { ok: undefined, note: `address type ${c.args[0]} is not traced` };
  }
  return { ok: isLocal(c.option === "src-type" ? p.src : p.dst, ctx) };
}

function ipvs(c: Clause, p: TracePacket): ClauseOutcome {
  const v = p.ipvs;
  const arg = c.args[0] ?? "";
  switch (c.option) {
    case "ipvs":
      return { ok: v !== undefined };
    case "vproto":
      return { ok: v !== undefined && String(v.protocol) === arg };
    case "vaddr":
      return { ok: v !== undefined && inNet(arg, v.address) };
    case "vport":
      return { ok: v !== undefined && String(v.port) === arg };
    case "vdir":
      return { ok: v !== undefined && arg === "ORIGINAL" };
    case "vmethod":
      return { ok: v !== undefined && arg === "MASQ" };
  }
  return { ok: undefined, note: `ipvs --${c.option} is not traced` };
}

function ports(c: Clause, p: TracePacket): ClauseOutcome {
  const arg = c.args[0] ?? "";
  switch (c.option) {
    case "dport":
    case "destination-port":
    case "dports":
    case "destination-ports":
      return { ok: portIn(arg, p.dport) };
    case "sport":
    case "source-port":
    case "sports":
    case "source-ports":
      return { ok: portIn(arg, p.sport), note: "the source port is not known" };
    case "ports":
      return portIn(arg, p.dport)
        ? { ok: true }
        : { ok: undefined, note: "the source port is not known" };
    case "syn":
      return { ok: p.protocol === "tcp", note: "assumed: the first packet (SYN)" };
    case "tcp-flags": {
      // The first packet of a connection carries SYN alone.
      const all = ["FIN", "SYN", "RST", "PSH", "ACK", "URG"];
      const flags = (s: string) => s === "ALL" ? all : s === "NONE" ? [] : s.split(",");
      const set = flags(c.args[1] ?? "");
      const ok = flags(arg).every((f) => set.includes(f) === (f === "SYN"));
      return { ok, note: "assumed: the first packet (SYN)" };
    }
  }
  return { ok: undefined, note: `${c.module} --${c.option} is not traced` };
}

function clause(c: Clause, p: TracePacket, ctx: MatchContext): ClauseOutcome {
  const arg = c.args[0] ?? "";
  switch (c.module) {
    case "":
      return basic(c, p);
    case "comment":
      return { ok: true };
    case "set":
      if (c.option !== "match-set") return { ok: true };
      {
        const lookup = lookupSet(ctx.ipsets.get(arg), arg, c.args[1] ?? "", p);
        return { ok: lookup.found, lookup, ...(lookup.why ? { note: lookup.why } : {}) };
      }
    case "addrtype":
      return addrtype(c, p, ctx);
    case "mark": {
      const [v, m] = arg.split("/");
      const mask = m === undefined ? 0xffff_ffff : Number(m);
      return { ok: ((p.mark & mask) >>> 0) === Number(v) >>> 0 };
    }
    case "conntrack":
    case "state":
      if (c.option === "ctstate" || c.option === "state") {
        const note = "assumed: the first packet of a new connection";
        return { ok: arg.split(",").some((s) => p.ctstate.has(s)), note };
      }
      return { ok: undefined, note: `conntrack --${c.option} is not traced` };
    case "physdev":
      if (c.option === "physdev-is-in" || c.option === "physdev-is-bridged") {
        return {
          ok: ctx.bridged,
          note: ctx.bridged
            ? "assumed: entered through a bridge port"
            : "assumed: not through a bridge port",
        };
      }
      return { ok: undefined, note: `physdev --${c.option} is not traced` };
    case "ipvs":
      return ipvs(c, p);
    case "tcp":
    case "udp":
    case "sctp":
      if (c.module !== p.protocol) return { ok: false };
      return ports(c, p);
    case "multiport":
      return ports(c, p);
  }
  return { ok: undefined, note: `match -m ${c.module} is not traced` };
}

/**
 * Evaluates the clauses of `rule` in order and, like the kernel, stops at the first one that
 * fails: the set lookups reported are those the kernel makes.
 */
export function matchRule(rule: ParsedRule, p: TracePacket, ctx: MatchContext): RuleMatch {
  let failed = false, unknown = false;
  const notes: string[] = [];
  const lookups: SetLookup[] = [];
  for (const c of rule.clauses) {
    if (failed) break;
    const r = clause(c, p, ctx);
    if (r.lookup) lookups.push(r.lookup);
    const ok = r.ok === undefined ? undefined : r.ok !== c.negated;
    if (ok === false) failed = true;
    if (ok === undefined) unknown = true;
    if (r.note && (ok === undefined || r.note.startsWith("assumed")) && !notes.includes(r.note)) {
      notes.push(r.note);
    }
  }
  return { matched: !failed && !unknown, unknown: !failed && unknown, notes, lookups };
}
