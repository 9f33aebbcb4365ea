/**
 * One `iptables-save` rule line parsed into its match clauses and its target, for the packet
 * tracer. iptables-save prints a normalised form: `-A CHAIN`, then the basic matches (`-s`,
 * `-d`, `-i`, `-o`, `-p`), then `-m module --option value...` groups, a `!` before any option
 * it negates, values with spaces or quotes double-quoted with `\` escapes, and last `-j TARGET`
 * (or `-g CHAIN`) with the target's own options.
 *
 * @module
 */

/** One match option: `-s 10.0.0.0/8`, `! --physdev-is-in`, `--match-set KUBE-CLUSTER-IP dst,dst`. */
export interface Clause {
  /** The match module ("set", "addrtype", ...); "" for the basic matches (-s -d -p -i -o). */
  module: string;
  /** The option without dashes: "s", "d", "p", "match-set", "dst-type", ... */
  option: string;
  negated: boolean;
  args: string[];
}

/** A rule line, parsed. */
export interface ParsedRule {
  /** The line as saved. */
  text: string;
  chain: string;
  clauses: Clause[];
  /** What `-j` or `-g` names; undefined for a rule without a target (it only counts). */
  target?: { name: string; goto: boolean; args: string[] };
}

const BASIC: Record<string, string> = {
  "-s": "s",
  "--source": "s",
  "-d": "d",
  "--destination": "d",
  "-p": "p",
  "--protocol": "p",
  "-i": "i",
  "--in-interface": "i",
  "-o": "o",
  "--out-interface": "o",
};

/** Options that take no value, by module (every other module option takes values). */
const FLAGS: Record<string, Set<string>> = {
  physdev: new Set(["physdev-is-in", "physdev-is-out", "physdev-is-bridged"]),
  ipvs: new Set(["ipvs"]),
  tcp: new Set(["syn"]),
  set: new Set(["return-nomatch", "update-counters", "update-subcounters"]),
  addrtype: new Set(["limit-iface-in", "limit-iface-out"]),
};
/** Options that take exactly two values. */
const PAIRS = new Set(["match-set", "tcp-flags"]);

/** Splits a saved line into words, undoing iptables-save's double quotes and escapes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = inWord = true;
    } else if (c === " " || c === "\t") {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Parses one `-A CHAIN ...` line; undefined when it is not one. */
export function parseRule(line: string): ParsedRule | undefined {
  const w = splitWords(line);
  if (w[0] !== "-A" || w[1] === undefined) return undefined;
  const rule: ParsedRule = { text: line, chain: w[1], clauses: [] };
  let module = "";
  let negate = false;
  for (let i = 2; i < w.length; i++) {
    const word = w[i]!;
    if (word === "!") {
      negate = true;
      continue;
    }
    if (word === "-j" || word === "--jump" || word === "-g" || word === "--goto") {
      rule.target = {
        name: w[i + 1] ?? "",
        goto: word === "-g" || word === "--goto",
        args: w.slice(i + 2),
      };
      break;
    }
    if (word === "-m" || word === "--match") {
      module = w[++i] ?? "";
      continue;
    }
    const basic = BASIC[word];
    if (basic) {
      rule.clauses.push({ module: "", option: basic, negated: negate, args: [w[++i] ?? ""] });
      negate = false;
      continue;
    }
    if (word.startsWith("--")) {
      const option = word.slice(2);
      const args: string[] = [];
      if (!FLAGS[module]?.has(option)) {
        const n = PAIRS.has(option) ? 2 : 1;
        for (let k = 0; k < n && i + 1 < w.length; k++) args.push(w[++i]!);
      }
      rule.clauses.push({ module, option, negated: negate, args });
      negate = false;
      continue;
    }
    // Anything else (an unknown short option): keep it so evaluation says it cannot tell.
    rule.clauses.push({ module, option: word, negated: negate, args: [] });
    negate = false;
  }
  return rule;
}
