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

Deno.test("kipvs cleanup takes run's command line: its help lists what it uses, run's other flags are accepted and still checked", async () => {
  const help = await cli("cleanup", "--help");
  assert.equal(help.code, 0);
  for (const flag of ["--config", "--ipvs-exclude-cidrs", "--iptables-backend", "--dry-run"]) {
    assert.match(help.stdout, new RegExp(`${flag} `));
  }
  assert.doesNotMatch(help.stdout, /--ipvs-scheduler|--manifests|--once/);
  // run's flags parse (an unknown one would exit 2 with "unknown option"); a bad value of one
  // that cleanup ignores still fails as it would in run, before the kernel is touched.
  const bad = await cli(
    "cleanup",
    "--hostname-override",
    "node-1",
    "--manifests",
    "/nonexistent",
    "--once",
    "--skip-sysctl",
    "--ipvs-scheduler",
    "nope",
  );
  assert.equal(bad.code, 2, bad.stderr);
  assert.doesNotMatch(bad.stderr, /unknown option/);
  assert.match(bad.stderr, /--ipvs-scheduler: \\?"nope\\?" is not one of/);
});

Deno.test("kipvs cleanup --config reads the file: a bad excludeCIDRs names the file and field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.conf`;
    await Deno.writeTextFile(
      path,
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n" +
        "mode: ipvs\nipvs: {excludeCIDRs: [10.200.0.0/99]}\n",
    );
    const r = await cli("cleanup", "--config", path, "--dry-run");
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(path), r.stderr);
    assert.match(r.stderr, /ipvs\.excludeCIDRs/);
    const missing = await cli("cleanup", "--config", `${dir}/none.conf`);
    assert.match(missing.stderr, /--config: cannot read .*none\.conf/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
