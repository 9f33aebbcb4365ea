/**
 * The kipvs side of `deno task bench:ipvs`, as a whole command the way an operator runs one:
 *
 *   ipvs_cli.ts restore FILE    apply a table: an ipvsadm rules file (what `ipvsadm -R` reads)
 *                               or kipvs's own JSON (what `save --json` prints)
 *   ipvs_cli.ts save [--json]   print the table as `ipvsadm -Sn` does, or as JSON
 *   ipvs_cli.ts save --counters the same rules, from a read that decodes the counters too
 *
 * It runs with exactly the permissions of scripts/permissions, so the benchmark also proves the
 * library works under them. `restore` checks every operation's outcome and exits 1 when any
 * failed, naming each failure.
 *
 * @module
 */

import { KernelIpvs } from "../src/dataplane/ipvs/kernel.ts";
import { rulesChunks, type RulesEntry } from "../src/dataplane/ipvs/rules.ts";
import { parseRules } from "./ipvs_rules.ts";
import type { IpvsOp } from "../src/dataplane/ipvs/types.ts";
import { describeError } from "../src/errors.ts";

const enc = new TextEncoder();

type Out = { writeSync(b: Uint8Array): number };

function writeBytes(out: Out, bytes: Uint8Array): void {
  let b = bytes;
  while (b.length > 0) b = b.subarray(out.writeSync(b));
}

function writeAll(out: Out, text: string): void {
  writeBytes(out, enc.encode(text));
}

/** The ops that create a table: each service, then its real servers. */
export function tableOps(table: readonly RulesEntry[]): IpvsOp[] {
  const ops: IpvsOp[] = [];
  for (const e of table) {
    ops.push({ op: "add-service", service: e }); // its destinations are not read
    for (const d of e.destinations) {
      ops.push({ op: "add-destination", service: e.key, destination: d });
    }
  }
  return ops;
}

async function main(args: string[]): Promise<number> {
  const [cmd, file] = args;
  if (cmd === "restore" && file) {
    const text = await Deno.readTextFile(file);
    // kipvs's own form is JSON (parsed natively); anything else is ipvsadm's rule syntax.
    const ops = text.trimStart().startsWith("[") ? tableOps(JSON.parse(text)) : parseRules(text);
    const ipvs = KernelIpvs.open();
    const t0 = performance.now();
    const results = await ipvs.apply(ops);
    const ms = performance.now() - t0;
    let failed = 0;
    for (const r of results) {
      if (r.ok) continue;
      failed++;
      if (failed <= 20) writeAll(Deno.stderr, `${r.error.message}\n`);
    }
    writeAll(
      Deno.stderr,
      `restore: ${results.length} ops, ${failed} failed, ${ipvs.messagesSent} messages, ` +
        `${ms.toFixed(1)} ms in apply\n`,
    );
    ipvs.close();
    return failed === 0 ? 0 : 1;
  }
  if (cmd === "save") {
    const ipvs = KernelIpvs.open();
    // Rules carry no counters; JSON (and --counters, to measure what they cost) reads them.
    const table = await ipvs.readAll({ counters: file === "--json" || file === "--counters" });
    ipvs.close();
    if (file === "--json") {
      writeAll(Deno.stdout, JSON.stringify(table) + "\n");
      return 0;
    }
    // Rules are ASCII: one character, one byte; chunks are encoded into one reused buffer.
    const buf = new Uint8Array(256 * 1024);
    for (const chunk of rulesChunks(table, buf.length / 2)) {
      const { read, written } = enc.encodeInto(chunk, buf);
      if (read < chunk.length) writeAll(Deno.stdout, chunk); // a service larger than the buffer
      else writeBytes(Deno.stdout, buf.subarray(0, written));
    }
    return 0;
  }
  writeAll(Deno.stderr, "usage: ipvs_cli.ts restore FILE | save [--json | --counters]\n");
  return 2;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    writeAll(Deno.stderr, `ipvs_cli: ${describeError(err)}\n`);
    Deno.exit(1);
  }
}
