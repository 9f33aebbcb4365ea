/**
 * `make demo`: boots the test kernel (User-Mode Linux, with IPVS) and shows kipvs working in it.
 * Runs on machines whose own kernel has no IPVS; needs root for nothing but `make setup`.
 *
 * @module
 */

import { runInGuest } from "../tests/kernel/harness.ts";

const script = `
step() { printf '\\n\\033[1m$ %s\\033[0m\\n' "$*"; }
step kipvs sysctl --check
kipvs sysctl --check
step kipvs sysctl --apply
kipvs sysctl --apply
step kipvs sysctl --check
kipvs sysctl --check
`;

console.log("booting the test kernel (User-Mode Linux 6.1 with IPVS)...");
const r = await runInGuest({ name: "demo", script, timeoutMs: 60_000 });
console.log(r.stdout + r.stderr);
if (r.code !== 0) {
  console.error(
    `demo failed (exit ${r.code}); kernel console tail:\n${
      r.console.split("\n").slice(-20).join("\n")
    }`,
  );
  Deno.exit(1);
}
