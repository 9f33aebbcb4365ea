import assert from "node:assert/strict";
import { assertGuestOk, runInGuest } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

// The manifest source in the test kernel, where the demo and the end-to-end tests run kipvs:
// file events on a guest tmpfs, and changes on the host's files (hostfs, which delivers no
// inotify events inside the guest) seen through the periodic rescan alone.
matrixTest(
  "the manifest source follows file changes inside the User-Mode Linux guest",
  async (_t, cell) => {
    const test = '"$DENO" test --node-modules-dir=manual --cached-only --no-check --allow-all';
    const r = await runInGuest({
      name: "manifest",
      kernel: cell.kernel,
      env: cellEnv(cell),
      modules: [],
      timeoutMs: 240_000,
      script: `set -e
mkdir -p /run/kipvs/tmp
echo "== tmpfs: file events"
TMPDIR=/run/kipvs/tmp ${test} tests/source/manifest_watch_test.ts tests/source/manifest_test.ts
echo "== hostfs: no file events, rescan only"
cat >/run/kipvs/events.ts <<'EOT'
const dir = await Deno.makeTempDir({ prefix: "kipvs-hostfs-" });
const w = Deno.watchFs(dir);
const kinds: string[] = [];
const loop = (async () => { for await (const e of w) kinds.push(e.kind); })();
await Deno.writeTextFile(dir + "/a.yaml", "a: 1\\n");
await new Promise((r) => setTimeout(r, 500));
w.close();
await loop;
await Deno.remove(dir, { recursive: true });
console.log("hostfs events: " + (kinds.length ? kinds.join(",") : "none"));
EOT
"$DENO" run --allow-all /run/kipvs/events.ts
${test} --filter "periodic rescan" tests/source/manifest_watch_test.ts
`,
    });
    assertGuestOk(r, "manifest tests in the guest");
    assert.match(r.stdout, /== tmpfs[\s\S]*ok \| \d+ passed \| 0 failed/);
    assert.match(r.stdout, /== hostfs[\s\S]*ok \| 1 passed \| 0 failed/);
    // hostfs on Debian's 6.1 reports nothing, not even the guest's own writes; 6.12 reports the
    // guest's own writes (changes made on the host side still come without events on both, which
    // is what the rescan, tested above with watching off, is for).
    assert.match(
      r.stdout,
      cell.kernel === "6.1" ? /hostfs events: none/ : /hostfs events: create,modify/,
    );
  },
);
