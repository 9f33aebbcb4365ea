/**
 * `kipvs dump --diff` for a terminal: one line per change a sync would make, "+" for what it
 * adds, "-" for what it removes, "~" for what it changes in place, grouped by facility.
 *
 * @module
 */

import type { NodeDiff } from "./diff.ts";
import type { TextOptions } from "./dump_text.ts";

const CODES = { "+": "\x1b[32m", "-": "\x1b[31m", "~": "\x1b[33m", "!": "\x1b[33m" } as const;

/** The diff as text, ending in a one-line verdict. */
export function diffText(d: NodeDiff, o: TextOptions): string {
  const out: string[] = [];
  const line = (sign: keyof typeof CODES, text: string, indent = "  ") =>
    out.push(
      o.color ? `${indent}${CODES[sign]}${sign} ${text}\x1b[0m` : `${indent}${sign} ${text}`,
    );

  if (d.ipvs.length > 0 || d.draining.length > 0) {
    out.push("IPVS");
    for (const c of d.ipvs) {
      const sign = c.op.op.startsWith("add") ? "+" : c.op.op.startsWith("delete") ? "-" : "~";
      line(sign, c.text + (c.service ? `  (${c.service})` : ""));
    }
    for (const dr of d.draining) {
      out.push(
        `  draining ${dr.realServer} of ${dr.virtualServer}: ${dr.connections} connection(s) left`,
      );
    }
  }
  if (d.createLink || d.addresses.add.length || d.addresses.remove.length) {
    out.push("kube-ipvs0");
    if (d.createLink) line("+", "create the dummy link kube-ipvs0");
    for (const a of d.addresses.add) line("+", a);
    for (const a of d.addresses.remove) line("-", a);
  }
  const s = d.ipsets;
  if (s.create.length || s.recreate.length || s.add.length || s.del.length) {
    out.push("ipsets");
    for (const n of s.create) line("+", `create ${n}`);
    for (const n of s.recreate) line("!", `destroy and create ${n} again (wrong type or options)`);
    for (const e of s.add) line("+", `${e.set} ${e.entry}`);
    for (const e of s.del) line("-", `${e.set} ${e.entry}`);
  }
  for (const f of d.iptables) {
    out.push(`iptables IPv${f.family}`);
    for (const c of f.chains) {
      out.push(`  ${c.table}/${c.chain}${c.reordered ? ": same rules, wrong order" : ""}`);
      for (const r of c.added) line("+", r, "    ");
      for (const r of c.removed) line("-", r, "    ");
    }
    for (const j of f.jumps) line("+", `jump ${j}`);
  }
  for (const f of d.nft) {
    out.push(`nftables table ${f.family === 4 ? "ip" : "ip6"} kipvs`);
    for (const st of f.statements) line(/^(add|flush chain)/.test(st) ? "+" : "-", st, "    ");
  }
  if (d.leftovers.length) {
    out.push(`${d.rulesBackend === "nftables" ? "iptables" : "nftables"} mode's leftovers`);
    for (const x of d.leftovers) line("-", x);
  }
  if (d.inSync) out.push("no changes: the node matches the plan");
  else {
    if (out.length) out.push("");
    out.push(
      `${d.changes} change(s): the node is out of step with the plan (a sync would make them)`,
    );
  }
  return out.join("\n") + "\n";
}
