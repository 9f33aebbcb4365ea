/**
 * Reading back what the end-to-end guest scripts print (tests/kernel/guest/e2e_lib.sh): sections
 * that start with "=== NAME", `kipvs run --once` runs with their JSON log, probe and connect
 * lines, and the dataplane dumps, normalised so that two dumps (or a dump and a golden file)
 * compare line by line.
 *
 * @module
 */

import assert from "node:assert/strict";
import { outputSections } from "./harness.ts";
import type { SyncReport } from "../../src/reconcile/proxier.ts";

/**
 * The sections of a script's stdout, by name ({@link outputSections}), refusing a name printed
 * twice: the later section would hide the earlier one.
 */
export function sections(stdout: string): Map<string, string> {
  const out = outputSections(stdout);
  const headings = stdout.match(/^=== .*$/gm) ?? [];
  if (headings.length !== out.size) {
    const seen = new Set<string>();
    const twice = headings.map((h) => h.slice(4).trim()).find((n) => seen.has(n) || !seen.add(n));
    assert.fail(`section "${twice}" printed twice`);
  }
  return out;
}

/** A section that must exist; the failure shows which ones did. */
export function section(all: Map<string, string>, name: string): string {
  const s = all.get(name);
  if (s === undefined) {
    assert.fail(`no section "${name}" in the guest's output (have: ${[...all.keys()].join(", ")})`);
  }
  return s;
}

/** One `kipvs run --once` as kipvs_once printed it. */
export interface KipvsRun {
  rc: number;
  /** Wall time of the process, Deno's start included. */
  ms: number;
  /** Log lines, parsed (JSON). */
  logs: Record<string, unknown>[];
  /** The raw section, for failure messages. */
  text: string;
}

/** Parses section "kipvs NAME". */
export function kipvsRun(all: Map<string, string>, name: string): KipvsRun {
  const text = section(all, `kipvs ${name}`);
  const value = (key: string) => {
    const m = text.match(new RegExp(`^${key} (\\d+)$`, "m"));
    return m ? Number(m[1]) : assert.fail(`no "${key}" line in kipvs ${name}:\n${text}`);
  };
  const logs = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  return { rc: value("rc"), ms: value("ms"), logs, text };
}

/** The counts kipvs logs after a sync. */
export type Synced = SyncReport;

const SYNCED_COUNTS = [
  "services",
  "ipvsOps",
  "ipvsFailed",
  "netlinkMessages",
  "addressesAdded",
  "addressesRemoved",
  "ipsetRestores",
  "ipsetEntries",
  "iptablesRestores",
  "draining",
  "writes",
  "ms",
] as const;

/** The "synced" log line of a run (exactly one), its counts checked to be numbers. */
export function syncedLine(run: KipvsRun): Synced {
  const lines = run.logs.filter((l) => l.msg === "synced");
  assert.equal(lines.length, 1, `want one "synced" line:\n${run.text}`);
  const line = lines[0]!;
  for (const k of SYNCED_COUNTS) {
    assert.equal(typeof line[k], "number", `"${k}" of the synced line:\n${run.text}`);
  }
  assert.equal(typeof line.full, "boolean", run.text);
  return line as unknown as Synced;
}

/** Probe lines "NAME ANSWER,ANSWER,..." of a section: name → answers in order. */
export function probes(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const l = line.trim();
    if (l === "") continue;
    const space = l.indexOf(" ");
    const name = space < 0 ? l : l.slice(0, space);
    out.set(name, space < 0 ? [] : l.slice(space + 1).split(","));
  }
  return out;
}

/** Lines "NAME WORD..." of a section: name → words. */
export function fields(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const [name, ...words] = line.trim().split(/\s+/);
    if (name) out.set(name, words);
  }
  return out;
}

/** How many times each answer came. */
export function tally(answers: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) out[a] = (out[a] ?? 0) + 1;
  return out;
}

/**
 * `ipvsadm -Sn` with a stable order: virtual servers sorted by their `-A` line, each followed
 * by its real servers sorted (the kernel lists services in hash order and real servers in the
 * order they were added).
 */
export function normalizeIpvs(text: string): string[] {
  const blocks: { head: string; dests: string[] }[] = [];
  for (const line of lines(text)) {
    if (line.startsWith("-A ")) blocks.push({ head: line, dests: [] });
    else if (line.startsWith("-a ")) {
      const block = blocks.at(-1) ?? assert.fail(`real server before any service: ${line}`);
      block.dests.push(line);
    } else assert.fail(`unexpected ipvsadm -Sn line: ${line}`);
  }
  blocks.sort((a, b) => compare(a.head, b.head));
  return blocks.flatMap((b) => [b.head, ...b.dests.sort(compare)]);
}

/** `ipset save` sorted, without the hash seed (`initval`) the kernel picks at random. */
export function normalizeIpset(text: string): string[] {
  return lines(text).map((l) => l.replace(/ initval 0x[0-9a-f]+/, "")).sort(compare);
}

/**
 * `iptables-save` without its comment lines, with every counter zeroed and the tables ordered
 * by name. (The kernel lists tables in the order a network namespace first used them: an
 * accident of start-up, not something kube-proxy or kipvs decide.)
 */
export function normalizeIptables(text: string): string[] {
  const tables: string[][] = [];
  for (const l of lines(text)) {
    if (l.startsWith("#")) continue;
    if (l.startsWith("*")) tables.push([]);
    const table = tables.at(-1) ?? assert.fail(`iptables-save line before any table: ${l}`);
    table.push(l.replace(/ \[\d+:\d+\]$/, " [0:0]"));
  }
  return tables.sort((a, b) => compare(a[0]!, b[0]!)).flat();
}

/**
 * `nft list ruleset` with every set's elements on one line and sorted (nft wraps long element
 * lists and prints a hash set's elements in hash order), other tools' tables dropped (only
 * `table ip kipvs` and `table ip6 kipvs` are kept), blank lines dropped.
 */
export function normalizeNft(text: string): string[] {
  const out: string[] = [];
  let keep = false;
  const all = lines(text);
  for (let i = 0; i < all.length; i++) {
    let l = all[i]!;
    if (l.startsWith("table ")) keep = / kipvs \{$/.test(l);
    if (!keep || l.startsWith("#")) continue;
    const m = /^(\s*)elements = \{(.*)$/.exec(l);
    if (m) {
      let body = m[2]!;
      while (!body.trimEnd().endsWith("}") && i + 1 < all.length) body += " " + all[++i]!.trim();
      const elements = body.trimEnd().slice(0, -1).split(",").map((e) => e.trim()).filter(Boolean);
      l = `${m[1]}elements = { ${elements.sort(compare).join(", ")} }`;
    }
    out.push(l);
  }
  return out;
}

/** kube-ipvs0's addresses (`ip -o addr` fourth column) without prefixes, sorted. */
export function normalizeAddresses(text: string): string[] {
  return lines(text).map((l) => l.replace(/\/\d+$/, "")).sort(compare);
}

/** A golden file's lines: its "#" header and blank lines dropped. */
export async function goldenLines(path: string): Promise<string[]> {
  return lines(await Deno.readTextFile(path)).filter((l) => !l.startsWith("#"));
}

/** Lines of `a` missing from `b`, in `a`'s order. */
export function minus(a: readonly string[], b: readonly string[]): string[] {
  const have = new Set(b);
  return a.filter((l) => !have.has(l));
}

/** Asserts two line lists are equal, showing a line diff (- want, + got) when they are not. */
export function assertLines(got: readonly string[], want: readonly string[], what: string): void {
  const missing = minus(want, got), extra = minus(got, want);
  if (missing.length === 0 && extra.length === 0 && got.join("\n") === want.join("\n")) return;
  const order = missing.length === 0 && extra.length === 0 ? "\n(same lines, other order)" : "";
  assert.fail(
    `${what} differs${order}\n${missing.map((l) => `- ${l}`).join("\n")}\n` +
      `${extra.map((l) => `+ ${l}`).join("\n")}\n--- got ---\n${got.join("\n")}`,
  );
}

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
