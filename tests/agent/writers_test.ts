import assert from "node:assert/strict";
import { FakeExec } from "../../src/dataplane/exec.ts";
import { otherWriters } from "../../src/agent/writers.ts";

const refused: typeof fetch = () => Promise.reject(new TypeError("connection refused"));
const answers: typeof fetch = () => Promise.resolve(new Response('{"lastUpdated":"x"}'));

Deno.test("otherWriters() names kube-proxy by its process and by its healthz port", async () => {
  const running = new FakeExec((c) => c.program === "pgrep" ? { stdout: "4242\n" } : undefined);
  assert.equal(
    await otherWriters({ exec: running, healthzPort: 10266, fetch: answers })(),
    "kube-proxy (its process is running (pid 4242); port 10256 answers /healthz)",
  );
  assert.deepEqual(running.calls.map((c) => [c.program, ...c.args]), [
    ["pgrep", "-x", "kube-proxy"],
  ]);
  const none = new FakeExec(() => ({ code: 1 }));
  assert.equal(await otherWriters({ exec: none, healthzPort: 10266, fetch: refused })(), undefined);
  assert.equal(
    await otherWriters({ exec: none, healthzPort: 10266, fetch: answers })(),
    "kube-proxy (port 10256 answers /healthz)",
  );
  let asked = false;
  const spy: typeof fetch = () => {
    asked = true;
    return answers("");
  };
  assert.equal(await otherWriters({ exec: none, healthzPort: 10256, fetch: spy })(), undefined);
  assert.equal(asked, false, "kipvs holds 10256 itself: no other process can");
  const noPgrep = new FakeExec(() => ({ code: -1, stderr: "cannot run pgrep" }));
  assert.equal(await otherWriters({ exec: noPgrep, healthzPort: 10256 })(), undefined);
});
