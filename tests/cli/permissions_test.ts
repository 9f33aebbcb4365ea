// The CLI under exactly the permissions the compiled binary carries (scripts/permissions): help,
// version and argument errors must work without any permission prompt or NotCapable error.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function kipvs(...args: string[]) {
  const perms = (await Deno.readTextFile(`${ROOT}scripts/permissions`)).split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...perms, `${ROOT}main.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("kipvs help and version work under the binary's exact permissions", async () => {
  const commands = ["run", "sysctl", "dump", "explain", "cleanup"];
  for (const args of [["--help"], ...commands.map((c) => [c, "--help"]), ["version"]]) {
    const r = await kipvs(...args);
    assert.equal(r.code, 0, `kipvs ${args.join(" ")}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /NotCapable|Requires .* access/, args.join(" "));
    assert.match(r.stdout, /kipvs/);
  }
});

Deno.test("kipvs rejects a bad flag value with a message naming the flag, exit 2", async () => {
  const r = await kipvs("run", "--manifests", "/nonexistent", "--once", "--ipvs-sync-period", "30");
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--ipvs-sync-period: "30" is not a duration/);
});
