import assert from "node:assert/strict";
import { runCli } from "../../src/cli/program.ts";

async function cli(...argv: string[]) {
  let stdout = "", stderr = "";
  const code = await runCli(argv, { stdout: (s) => stdout += s, stderr: (s) => stderr += s });
  return { code, stdout, stderr };
}

Deno.test("the CLI wires dump, explain and cleanup: usage errors exit 2 before touching the kernel", async () => {
  const diff = await cli("dump", "--diff");
  assert.equal(diff.code, 2);
  assert.match(diff.stderr, /kipvs dump --diff needs a source/);
  const target = await cli("explain", "tcp/10.96.0.10");
  assert.equal(target.code, 2);
  assert.match(target.stderr, /invalid target "tcp\/10\.96\.0\.10"/);
  const cidr = await cli("cleanup", "--ipvs-exclude-cidrs", "10.0.0.0/99");
  assert.equal(cidr.code, 2);
  assert.match(cidr.stderr, /--ipvs-exclude-cidrs: \\?"10\.0\.0\.0\/99\\?" is not a CIDR/);
  const output = await cli("dump", "-o", "yaml");
  assert.equal(output.code, 2);
  assert.match(output.stderr, /argument 'yaml' is invalid/);
});

Deno.test("kipvs explain --help names the target form and the source flags", async () => {
  const r = await cli("explain", "--help");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: kipvs explain \[options\] <target>/);
  assert.match(r.stdout, /--from <ip>/);
  assert.match(r.stdout, /--manifests <path>/);
});
