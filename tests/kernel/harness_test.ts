import assert from "node:assert/strict";
import { assertGuestOk, runInGuest } from "./harness.ts";

async function umlProcesses(umid: string): Promise<string> {
  const out = await new Deno.Command("pgrep", { args: ["-af", `umid=${umid}`] }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("runInGuest() returns the script's status, stdout and stderr", async () => {
  const r = await runInGuest({
    name: "harness-basic",
    script: `echo "kernel $(uname -r)"; test -d /proc/sys/net/ipv4/vs && echo ipvs-loaded
echo oops >&2; exit 3`,
    modules: ["ip_vs"],
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 3, r.console);
  assert.match(r.stdout, /^kernel 6\.1\./m);
  assert.match(r.stdout, /^ipvs-loaded$/m);
  assert.equal(r.stderr.trim(), "oops");
  assert.equal(r.timedOut, false);
});

Deno.test("runInGuest() stops a guest that overruns its timeout and leaves no process", async () => {
  const r = await runInGuest({
    name: "harness-timeout",
    script: "sleep 600",
    modules: [],
    timeoutMs: 6_000,
  });
  assert.equal(r.code, -1);
  assert.equal(r.timedOut, true);
  assert.ok(r.ms < 30_000, `took ${r.ms} ms`);
  assert.throws(() => assertGuestOk(r), /timed out/);
  assert.equal(await umlProcesses("harness-timeout"), "");
});

Deno.test("pods behind a hand-made IPVS virtual server answer from the node and from a pod", async () => {
  const r = await runInGuest({
    name: "harness-pods",
    script: `set -e
pod_create pod-a 10.244.1.2
pod_create pod-b 10.244.1.3
pod_create pod-c 10.244.1.4
pod_serve pod-a 8080
pod_serve pod-b 8080
ip link add kube-ipvs0 type dummy
ip addr add 10.96.0.10/32 dev kube-ipvs0
for p in -t -u; do
  ipvsadm -A $p 10.96.0.10:80 -s rr
  ipvsadm -a $p 10.96.0.10:80 -r 10.244.1.2:8080 -m
  ipvsadm -a $p 10.96.0.10:80 -r 10.244.1.3:8080 -m
done
echo "node-tcp $(client tcp 10.96.0.10 80 --count 4 | sort -u | xargs)"
echo "node-udp $(client udp 10.96.0.10 80 --count 4 | sort -u | xargs)"
echo "pod-tcp $(client_in pod-c tcp 10.96.0.10 80 --count 4 | sort -u | xargs)"
echo "pod-udp $(client_in pod-c udp 10.96.0.10 80 --count 4 | sort -u | xargs)"
echo "direct $(client_in pod-c tcp 10.244.1.3 8080)"
ipvsadm -Ln --stats
`,
    timeoutMs: 120_000,
  });
  assertGuestOk(r);
  for (const from of ["node-tcp", "node-udp", "pod-tcp", "pod-udp"]) {
    assert.match(r.stdout, new RegExp(`^${from} pod-a pod-b$`, "m"), r.stdout);
  }
  assert.match(r.stdout, /^direct pod-b$/m);
  assert.equal(await umlProcesses("harness-pods"), "");
});
