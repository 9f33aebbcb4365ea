/**
 * Runs inside the test guest (see tests/kernel/diag_test.ts) under kipvs's own permissions
 * (scripts/permissions): `kipvs explain -o json` through the real CLI for each case, in one Deno
 * start, printing one JSON line per case.
 *
 * usage: diag_explain.ts FLAGS_JSON NAME|TARGET|FROM...   (FROM empty: the node itself)
 */
import { runCli } from "../../../src/cli/program.ts";

const [flagsJson, ...cases] = Deno.args;
const flags = JSON.parse(flagsJson ?? "[]") as string[];
for (const c of cases) {
  const [name, target, from] = c.split("|") as [string, string, string | undefined];
  let stdout = "", stderr = "";
  const args = ["explain", target, ...(from ? ["--from", from] : []), "-o", "json", ...flags];
  const code = await runCli(args, { stdout: (s) => stdout += s, stderr: (s) => stderr += s });
  console.log(
    JSON.stringify({ name, code, stderr, explanation: code === 0 ? JSON.parse(stdout) : null }),
  );
}
