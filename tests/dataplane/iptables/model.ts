/**
 * An in-memory iptables for unit tests: per family, the nat and filter tables with their
 * chains, changed by `iptables-restore --noflush` payloads with its semantics (a table block is
 * all or nothing; declaring an existing user chain empties it; `-A`, `-I`, `-D`, `-F`, `-X`),
 * and answering with iptables 1.8.9 (legacy)'s messages: "Error occurred at line: N" (exit 2)
 * for a rule it cannot load, "line N failed" (exit 1) for a refused operation. Rules are stored
 * as written: the model does not normalise them the way iptables-save does (the kernel tests
 * prove that the renderer already writes the normalised form).
 *
 * @module
 */

import type { Family } from "../../../src/net/family.ts";
import type { ModelAnswer } from "../ipset/model.ts";

interface Chain {
  policy: string;
  rules: string[];
}
type Table = Map<string, Chain>;

const BUILTIN: Record<string, string[]> = {
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
};
const TARGETS = new Set([
  "ACCEPT",
  "DROP",
  "RETURN",
  "REJECT",
  "MASQUERADE",
  "MARK",
  "DNAT",
  "SNAT",
  "LOG",
]);

class LineError extends Error {
  constructor(readonly text: string, readonly parse = true) {
    super(text);
  }
}

function newTable(name: string): Table {
  return new Map((BUILTIN[name] ?? []).map((c) => [c, { policy: "ACCEPT", rules: [] }]));
}

function cloneTable(t: Table): Table {
  return new Map([...t].map(([k, c]) => [k, { policy: c.policy, rules: [...c.rules] }]));
}

/** The model. `setExists` tells whether an ipset exists (rules may only match existing sets). */
export class IptablesModel {
  readonly families: Record<Family, Map<string, Table>> = { 4: new Map(), 6: new Map() };
  setExists: (name: string) => boolean = () => true;

  /** Whether any rule of either family matches the set `name`. */
  usesSet(name: string): boolean {
    for (const f of [4, 6] as const) {
      for (const t of this.families[f].values()) {
        for (const c of t.values()) {
          if (c.rules.some((r) => r.includes(` --match-set ${name} `))) return true;
        }
      }
    }
    return false;
  }

  /** Applies a payload like `iptables-restore --noflush`. */
  restore(family: Family, payload: string): ModelAnswer {
    const program = `${family === 4 ? "iptables" : "ip6tables"}-restore`;
    const tables = this.families[family];
    let name: string | undefined;
    let work: Table | undefined;
    const lines = payload.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === "" || line.startsWith("#")) continue;
      try {
        if (line.startsWith("*")) {
          name = line.slice(1);
          if (!BUILTIN[name]) throw new LineError(`can't initialize ${name}: Table does not exist`);
          work = cloneTable(tables.get(name) ?? newTable(name));
        } else if (!work || !name) {
          throw new LineError("no command");
        } else if (line === "COMMIT") {
          tables.set(name, work);
          work = undefined;
        } else {
          this.#apply(work, line);
        }
      } catch (err) {
        if (!(err instanceof LineError)) throw err;
        const head = `${program} v1.8.9 (legacy)`;
        return err.parse
          ? {
            code: 2,
            stdout: "",
            stderr: `${head}: ${err.text}\n\nError occurred at line: ${i + 1}\n` +
              `Try \`${program} -h' or '${program} --help' for more information.\n`,
          }
          : { code: 1, stdout: "", stderr: `${program}: line ${i + 1} failed\n` };
      }
    }
    if (work) {
      return {
        code: 1,
        stdout: "",
        stderr: `${program}: COMMIT expected at line ${lines.length}\n`,
      };
    }
    return { code: 0, stdout: "", stderr: "" };
  }

  #apply(t: Table, line: string): void {
    if (line.startsWith(":")) {
      const [chain, policy] = line.slice(1).split(" ") as [string, string | undefined];
      const c = t.get(chain);
      if (c && policy && policy !== "-") c.policy = policy;
      else if (c) c.rules.length = 0; // --noflush: declaring a user chain empties it
      else t.set(chain, { policy: "-", rules: [] });
      return;
    }
    const words = line.split(" ");
    const [op, chain] = words as [string, string];
    const c = t.get(chain);
    if (!c) throw new LineError("", false); // iptables-restore: "line N failed"
    if (op === "-F") c.rules.length = 0;
    else if (op === "-X") {
      const referenced = [...t.values()].some((o) =>
        o.rules.some((r) => r.endsWith(` -j ${chain}`))
      );
      if (referenced || c.rules.length > 0 || c.policy !== "-") throw new LineError("", false);
      t.delete(chain);
    } else if (op === "-A" || op === "-I" || op === "-D") {
      let rest = words.slice(2);
      let pos = 1;
      if (op === "-I" && /^\d+$/.test(rest[0] ?? "")) {
        pos = Number(rest[0]);
        rest = rest.slice(1);
      }
      const rule = `-A ${chain} ${rest.join(" ")}`;
      this.#check(t, rest);
      if (op === "-A") c.rules.push(rule);
      else if (op === "-I") {
        if (pos > c.rules.length + 1) throw new LineError("Index of insertion too big", false);
        c.rules.splice(pos - 1, 0, rule);
      } else {
        const at = c.rules.indexOf(rule);
        if (at < 0) throw new LineError("", false);
        c.rules.splice(at, 1);
      }
    } else {
      throw new LineError(`unknown option "${op}"`);
    }
  }

  #check(t: Table, rest: string[]): void {
    const j = rest.indexOf("-j");
    const target = j >= 0 ? rest[j + 1] : undefined;
    if (target && !TARGETS.has(target) && !t.has(target)) {
      throw new LineError(`Couldn't load target \`${target}':No such file or directory`);
    }
    const s = rest.indexOf("--match-set");
    const set = s >= 0 ? rest[s + 1] : undefined;
    if (set && !this.setExists(set)) throw new LineError(`Set ${set} doesn't exist.`);
  }

  /** The text `iptables-save` prints for a family (filter, then nat). */
  saveText(family: Family): string {
    const program = `${family === 4 ? "iptables" : "ip6tables"}-save`;
    const out: string[] = [];
    for (const name of ["filter", "nat"]) {
      const t = this.families[family].get(name);
      if (!t) continue;
      const builtins = BUILTIN[name]!;
      const user = [...t.keys()].filter((c) => !builtins.includes(c)).sort();
      const order = [...builtins, ...user];
      out.push(`# Generated by ${program} v1.8.9`, `*${name}`);
      for (const c of order) out.push(`:${c} ${t.get(c)!.policy} [0:0]`);
      for (const c of order) out.push(...t.get(c)!.rules);
      out.push("COMMIT", `# Completed`);
    }
    return out.length ? out.join("\n") + "\n" : "";
  }
}
