import assert from "node:assert/strict";
import { assertGuestOk, runInGuest } from "./harness.ts";
import { builtProjectKernelPath, DEBIAN_KERNEL, resolveKernel } from "./kernels.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

async function umlProcesses(umid: string): Promise<string> {
  const out = await new Deno.Command("pgrep", { args: ["-af", `umid=${umid}`] }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

matrixTest("runInGuest() returns the script's status, stdout and stderr", async (_t, cell) => {
  const r = await runInGuest({
    name: "harness-basic",
    kernel: cell.kernel,
    script: `echo "kernel $(uname -r) $KIPVS_GUEST_KERNEL"
test -d /proc/sys/net/ipv4/vs && echo ipvs-loaded
echo "modules $(wc -l </proc/modules)"
echo oops >&2; exit 3`,
    modules: ["ip_vs"],
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 3, r.console);
  assert.equal(r.kernel.name, cell.kernel);
  assert.equal(r.booted, true);
  const version = cell.kernel.replace(".", "\\.");
  assert.match(r.stdout, new RegExp(`^kernel ${version}\\.\\d+ ${version}$`, "m"));
  assert.match(r.stdout, /^ipvs-loaded$/m);
  // 6.1 loads the modules asked for; 6.12 has everything built in and loads none.
  assert.match(r.stdout, cell.kernel === "6.1" ? /^modules [1-9]\d*$/m : /^modules 0$/m);
  assert.equal(r.stderr.trim(), "oops");
  assert.equal(r.timedOut, false);
  assert.throws(
    () => assertGuestOk(r),
    new RegExp(`^Error: guest script exited 3 on kernel ${version} \\(${r.kernel.path}\\)`),
  );
});

matrixTest(
  "runInGuest() stops a guest that overruns its timeout and leaves no process",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "harness-timeout",
      kernel: cell.kernel,
      script: "sleep 600",
      modules: [],
      timeoutMs: 6_000,
    });
    assert.equal(r.code, -1);
    assert.equal(r.timedOut, true);
    assert.ok(r.ms < 30_000, `took ${r.ms} ms`);
    assert.throws(() => assertGuestOk(r), /timed out on kernel/);
    assert.equal(await umlProcesses("harness-timeout"), "");
  },
);

Deno.test("a kernel that does not boot, or cannot be started, is named in the error", async () => {
  const r = await runInGuest({
    name: "harness-noboot",
    kernel: { name: "6.12", path: "/bin/false", modular: false },
    script: "true",
  });
  assert.deepEqual([r.code, r.booted], [-1, false]);
  assert.throws(
    () => assertGuestOk(r, "boot check"),
    /^Error: boot check did not run: kernel 6\.12 \(\/bin\/false\) did not boot \(no init\)/,
  );
  await assert.rejects(
    runInGuest({
      kernel: { name: "6.12", path: "/nonexistent/linux", modular: false },
      script: "true",
    }),
    /^Error: cannot boot kernel 6\.12 \(\/nonexistent\/linux\): /,
  );
});

Deno.test("the default kernel is KIPVS_KERNEL, else 6.12 once built, else 6.1", async () => {
  const saved = Deno.env.get("KIPVS_KERNEL");
  try {
    Deno.env.set("KIPVS_KERNEL", "6.1");
    assert.deepEqual(await resolveKernel(), DEBIAN_KERNEL);
    Deno.env.set("KIPVS_KERNEL", "5.4");
    await assert.rejects(resolveKernel(), /KIPVS_KERNEL="5\.4": want 6\.1 or 6\.12/);
    Deno.env.delete("KIPVS_KERNEL");
    const built = await builtProjectKernelPath();
    const k = await resolveKernel();
    assert.deepEqual(k, built ? { name: "6.12", path: built, modular: false } : DEBIAN_KERNEL);
  } finally {
    if (saved === undefined) Deno.env.delete("KIPVS_KERNEL");
    else Deno.env.set("KIPVS_KERNEL", saved);
  }
});

matrixTest(
  "pods behind a hand-made IPVS virtual server answer from the node and from a pod",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "harness-pods",
      kernel: cell.kernel,
      env: cellEnv(cell),
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
  },
);
