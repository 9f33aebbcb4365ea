// kipvs in a cluster, in the guest kernel (one boot): `kipvs run --kubeconfig` against the test
// API server (tests/support/apiserver_main.ts over TLS), both real processes, kipvs as deploy/
// runs it (the ConfigMap's kubeconfig.conf with a service-account token, RBAC of rbac.yaml, the
// DaemonSet's init command and its container's capabilities), with pods and real traffic before
// and after changes made through the API server, while the API server is killed, and after it
// restarts. The checks themselves are in tests/kernel/guest/cluster.guest.ts.
import assert from "node:assert/strict";
import { assertGuestOk, runGuestTests } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

matrixTest(
  "kipvs run follows the test API server in the guest and keeps the dataplane while it is down",
  async (_t, cell) => {
    const r = await runGuestTests(["tests/kernel/guest/cluster.guest.ts"], {
      name: "cluster",
      kernel: cell.kernel,
      env: cellEnv(cell),
      timeoutMs: 300_000,
      memMiB: 1024,
      before: `
set -e
pod_create pod-a 10.244.1.2 && pod_serve pod-a 8080 9090
pod_create pod-b 10.244.1.3 && pod_serve pod-b 8080 9090
pod_create pod-c 10.244.1.4 && pod_serve pod-c 8080 9090
set +e
`,
    });
    assertGuestOk(r, "cluster test in the guest");
    assert.match(r.stdout, /ok \| 1 passed \| 0 failed/);
    // kipvs ran with deploy/daemonset.yaml's capabilities (NET_ADMIN and NET_RAW: bits 12, 13).
    assert.match(r.stdout, /kipvs runs with CapEff 3000 and no_new_privs/);
    for (const l of r.stdout.split("\n").filter((l) => l.startsWith("figure: "))) console.log(l);
  },
);
