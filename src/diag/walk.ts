/**
 * Walking a packet through one built-in chain of one saved table, the way the kernel does:
 * rules in order, jumps into user chains and back (RETURN, or the end of the chain), `-g`
 * gotos, MARK applied as it is met, and the first terminal target (ACCEPT, DROP, REJECT, a NAT
 * target) ending the table; a built-in chain that runs out ends in its policy. Every rule met is
 * recorded with its outcome.
 *
 * @module
 */

import type { SavedChain, SavedTable } from "../dataplane/iptables/save.ts";
import { type MatchContext, matchRule, type TracePacket } from "./match.ts";
import { type ParsedRule, parseRule } from "./rule.ts";
import type { SetLookup } from "./setmatch.ts";

/** One rule the packet met. */
export interface TraceStep {
  table: string;
  chain: string;
  /** The rule as saved, or "policy ACCEPT" for a built-in chain's end. */
  rule: string;
  result: "match" | "no" | "unknown";
  /** What the matching rule did: "jump KUBE-SERVICES", "RETURN", "MARK --set-xmark ...", "DROP". */
  action?: string;
  notes: string[];
  lookups: SetLookup[];
}

/** How a table let the packet go. */
export type Verdict = "ACCEPT" | "DROP" | "REJECT" | "NAT";

/** The outcome of one hook. */
export interface HookResult {
  /** "nat/PREROUTING". */
  hook: string;
  verdict: Verdict;
  /** The target that decided ("ACCEPT", "MASQUERADE", "REJECT", "policy ACCEPT"). */
  target: string;
  /** The step that decided; undefined when the table or chain is absent. */
  decidedBy?: TraceStep;
  steps: TraceStep[];
  /** The packet after the hook (its mark). */
  packet: TracePacket;
}

const TERMINAL: Record<string, Verdict> = {
  ACCEPT: "ACCEPT",
  DROP: "DROP",
  REJECT: "REJECT",
  MASQUERADE: "NAT",
  SNAT: "NAT",
  DNAT: "NAT",
  REDIRECT: "NAT",
  NETMAP: "NAT",
};
const MAX_DEPTH = 32;

const parsed = new WeakMap<SavedChain, ParsedRule[]>();
function rulesOf(chain: SavedChain): ParsedRule[] {
  let r = parsed.get(chain);
  if (!r) parsed.set(chain, r = chain.rules.flatMap((l) => parseRule(l) ?? []));
  return r;
}

/** `--set-xmark value/mask` (and `--set-mark`): clear the mask's bits, then xor the value in. */
export function applyMark(mark: number, args: readonly string[]): number {
  const i = args.findIndex((a) => a === "--set-xmark" || a === "--set-mark");
  const spec = i >= 0 ? args[i + 1] : undefined;
  if (!spec) return mark;
  const [v, m] = spec.split("/");
  const mask = m === undefined ? 0xffff_ffff : Number(m);
  return (((mark & ~mask) >>> 0) ^ Number(v)) >>> 0;
}

type ChainEnd = { kind: "return" } | {
  kind: "terminal";
  verdict: Verdict;
  target: string;
  step: TraceStep;
};

/** Options of {@link walkHook}. */
export interface WalkOptions {
  /** The table as saved; undefined when the kernel has not loaded it (nothing happens). */
  table: SavedTable | undefined;
  tableName: string;
  /** The built-in chain ("PREROUTING", "INPUT", ...). */
  chain: string;
  packet: TracePacket;
  ctx: MatchContext;
}

/** Walks `packet` through a built-in chain. */
export function walkHook(o: WalkOptions): HookResult {
  const hook = `${o.tableName}/${o.chain}`;
  const builtin = o.table?.get(o.chain);
  if (!o.table || !builtin) {
    return { hook, verdict: "ACCEPT", target: "no rules", steps: [], packet: o.packet };
  }
  const w: Walk = { o, table: o.table, steps: [], packet: o.packet };
  const end = runChain(w, o.chain, 0);
  const { steps, packet } = w;
  if (end.kind === "terminal") {
    return { hook, verdict: end.verdict, target: end.target, decidedBy: end.step, steps, packet };
  }
  const policy = builtin.policy === "DROP" ? "DROP" : "ACCEPT";
  const step: TraceStep = {
    table: o.tableName,
    chain: o.chain,
    rule: `policy ${builtin.policy}`,
    result: "match",
    action: policy,
    notes: [],
    lookups: [],
  };
  steps.push(step);
  return { hook, verdict: policy, target: `policy ${policy}`, decidedBy: step, steps, packet };
}

/** One walk through a table: the steps so far and the packet as the rules changed it. */
interface Walk {
  o: WalkOptions;
  table: SavedTable;
  steps: TraceStep[];
  packet: TracePacket;
}

/** Runs chain `name` (a jump `depth` deep) until a verdict, a RETURN or its end. */
function runChain(w: Walk, name: string, depth: number): ChainEnd {
  const chain = w.table.get(name);
  if (!chain || depth > MAX_DEPTH) return { kind: "return" };
  for (const rule of rulesOf(chain)) {
    const m = matchRule(rule, w.packet, w.o.ctx);
    const step: TraceStep = {
      table: w.o.tableName,
      chain: name,
      rule: rule.text,
      result: m.matched ? "match" : m.unknown ? "unknown" : "no",
      notes: m.notes,
      lookups: m.lookups,
    };
    w.steps.push(step);
    const t = rule.target;
    if (!m.matched || !t) continue;
    const verdict = TERMINAL[t.name];
    if (verdict) {
      step.action = t.name;
      return { kind: "terminal", verdict, target: t.name, step };
    }
    if (t.name === "RETURN") {
      step.action = "RETURN";
      return { kind: "return" };
    }
    if (t.name === "MARK") {
      w.packet = { ...w.packet, mark: applyMark(w.packet.mark, t.args) };
      step.action = `MARK ${t.args.join(" ")} (mark now 0x${w.packet.mark.toString(16)})`;
      continue;
    }
    if (w.table.has(t.name)) {
      step.action = `${t.goto ? "goto" : "jump"} ${t.name}`;
      const end = runChain(w, t.name, depth + 1);
      if (end.kind === "terminal") return end;
      if (t.goto) return { kind: "return" };
      continue;
    }
    step.action = `${t.name} (does not end the chain)`;
  }
  return { kind: "return" };
}
