/**
 * kipvs: a Kubernetes service proxy in IPVS mode. Entry point of the compiled executable.
 *
 * @module
 */

import { runCli } from "./src/cli/program.ts";

if (import.meta.main) {
  const enc = new TextEncoder();
  const code = await runCli(Deno.args, {
    stdout: (s) => Deno.stdout.writeSync(enc.encode(s)),
    stderr: (s) => Deno.stderr.writeSync(enc.encode(s)),
  });
  Deno.exit(code);
}
