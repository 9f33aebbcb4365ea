/**
 * Typed rules (../rules.ts) rendered in the normalised form `iptables-save` prints, so that a
 * rendered chain and a saved chain compare line by line.
 *
 * Normalisation measured with iptables 1.8.9 (legacy): address matches come first
 * (`! -s 10.244.0.0/16 -m comment ...`), host addresses get their prefix (`-s 203.0.113.10/32`),
 * `MARK --or-mark M` prints as `--set-xmark M/M` and `--xor-mark M` as `--set-xmark M/0x0`,
 * `REJECT` gets `--reject-with icmp-port-unreachable` (`icmp6-port-unreachable`), `-m ipvs`
 * prints `--vproto <number> --vaddr <ip> --vport <port>`, and comments with anything but
 * letters, digits, "_" and "-" are double-quoted with `"`, `'` and `\` escaped by a backslash.
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import type { JumpRule, Match, Rule, RuleSet, Table, Verdict } from "../rules.ts";

/** The owned chains of one table and their rules (whole `-A CHAIN ...` lines, in order). */
export interface TableRules {
  /** Owned chains in kube-proxy's order. */
  chains: readonly string[];
  /** Rules per owned chain; a chain without rules maps to []. */
  rules: Map<string, string[]>;
}

/** One family's rules as `iptables-save` prints them. */
export interface IptablesRules {
  family: Family;
  tables: Record<Table, TableRules>;
  /** Jump rules from the built-in chains, as `-A FROM ...` lines, in kube-proxy's order. */
  jumps: { rule: JumpRule; line: string }[];
}

/** A string as iptables-save prints it: bare when harmless, else double-quoted and escaped. */
export function saveQuote(s: string): string {
  return /^[A-Za-z0-9_-]+$/.test(s) ? s : `"${s.replace(/["'\\]/g, "\\$&")}"`;
}

const PROTO_NUMBER: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

function hex(n: number): string {
  return "0x" + n.toString(16);
}

/** A CIDR with its prefix, as iptables-save prints an address match. */
function withPrefix(cidr: string, family: Family): string {
  return cidr.includes("/") ? cidr : `${cidr}/${family === 4 ? 32 : 128}`;
}

function renderMatch(m: Match, family: Family): string {
  const not = "negate" in m && m.negate ? "! " : "";
  switch (m.kind) {
    case "source":
      return `${not}-s ${withPrefix(m.cidr, family)}`;
    case "protocol":
      return `-p ${m.protocol}`;
    case "comment":
      return `-m comment --comment ${saveQuote(m.text)}`;
    case "set":
      return `-m set --match-set ${m.set} ${m.directions}`;
    case "bridged":
      return `-m physdev ${not}--physdev-is-in`;
    case "local":
      return `-m addrtype ${not}--${m.address === "source" ? "src" : "dst"}-type LOCAL`;
    case "mark":
      return `-m mark ${not}--mark ${hex(m.value)}/${hex(m.mask)}`;
    case "ctstate":
      return `-m conntrack --ctstate ${m.states.join(",")}`;
    case "ipvs":
      return `-m ipvs --vproto ${PROTO_NUMBER[m.protocol]} --vaddr ${m.address} --vport ${m.port}`;
  }
}

function renderVerdict(v: Verdict, family: Family): string {
  switch (v.kind) {
    case "jump":
      return `-j ${v.chain}`;
    case "accept":
    case "drop":
    case "return":
      return `-j ${v.kind.toUpperCase()}`;
    case "reject":
      return `-j REJECT --reject-with icmp${family === 4 ? "" : "6"}-port-unreachable`;
    case "masquerade":
      return `-j MASQUERADE${v.randomFully ? " --random-fully" : ""}`;
    case "set-mark":
      return `-j MARK --set-xmark ${hex(v.value)}/${hex(v.mask)}`;
  }
}

/** One rule as an `-A CHAIN ...` line; address matches first, as iptables-save prints them. */
export function renderRule(rule: Rule, family: Family): string {
  const words = [`-A ${rule.chain}`];
  for (const m of rule.matches) if (m.kind === "source") words.push(renderMatch(m, family));
  for (const m of rule.matches) if (m.kind !== "source") words.push(renderMatch(m, family));
  words.push(renderVerdict(rule.verdict, family));
  return words.join(" ");
}

/** A jump rule as its `-A FROM ...` line. */
export function renderJump(rule: JumpRule): string {
  return `-A ${rule.from} -m comment --comment ${saveQuote(rule.comment)} -j ${rule.to}`;
}

/** Renders one family's typed rules as iptables-save lines. */
export function renderIptables(set: RuleSet): IptablesRules {
  const table = (t: Table): TableRules => {
    const rules = new Map<string, string[]>();
    for (const [chain, list] of set.tables[t].rules) {
      rules.set(chain, list.map((r) => renderRule(r, set.family)));
    }
    return { chains: set.tables[t].chains, rules };
  };
  return {
    family: set.family,
    tables: { nat: table("nat"), filter: table("filter") },
    jumps: set.jumps.map((rule) => ({ rule, line: renderJump(rule) })),
  };
}

/**
 * The whole rule set as one `iptables-restore --noflush` payload, as kube-proxy writes it:
 * every owned chain declared (which empties it) and refilled. Jump rules are not in it (they
 * are ensured separately). For `kipvs dump` and golden tests.
 */
export function rulesPayload(rules: IptablesRules): string {
  const out: string[] = [];
  for (const table of ["nat", "filter"] as const) {
    const t = rules.tables[table];
    out.push(`*${table}`, ...t.chains.map((c) => `:${c} - [0:0]`));
    for (const c of t.chains) out.push(...t.rules.get(c)!);
    out.push("COMMIT");
  }
  return out.join("\n") + "\n";
}
