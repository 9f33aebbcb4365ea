// `kipvs cleanup` with run's command line, as kube-proxy's `--cleanup` takes kube-proxy's: the
// same --config file (its ipvs.excludeCIDRs protects a virtual server) and the same flags
// (--hostname-override, --manifests, --once ... accepted and ignored), on a node that
// `kipvs run` programmed with that command line. State read back with ipvsadm, ipset and
// iptables-legacy-save.
import assert from "node:assert/strict";
import { assertGuestOk, outputSections, runInGuest } from "./harness.ts";

const SCRIPT = String.raw`set -e
F=/run/kipvs/config.conf
cat >$F <<'CONF'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
clusterCIDR: 10.244.0.0/16
ipvs:
  scheduler: rr
  excludeCIDRs: [10.200.0.0/16]
CONF
ARGS="--config $F --hostname-override kipvs-node --manifests $KIPVS_ROOT/tests/kernel/guest/diag/cluster.yaml --iptables-backend legacy --log-level warn --once"
kipvs run $ARGS
ipvsadm -A -t 10.200.0.1:80 -s rr
set +e
echo "=== before"; ipvsadm -Sn | grep -c -- '^-A'; ipset list -n | grep -c '^KUBE-'
echo "=== cleanup"; kipvs cleanup $ARGS -o json; echo "rc=$?"
echo "=== after-ipvs"; ipvsadm -Sn
echo "=== after-sets"; ipset list -n | grep '^KUBE-'
echo "=== after-rules"; (iptables-legacy-save; ip6tables-legacy-save) | grep -c -- KUBE-
echo "=== after-link"; ip link show kube-ipvs0 >/dev/null 2>&1 && echo present || echo absent
echo "=== again"; kipvs cleanup $ARGS; echo "rc=$?"
`;

Deno.test("kipvs cleanup --config F --hostname-override N (run's command line) cleans the node and keeps the file's excluded CIDRs", async () => {
  const r = await runInGuest({ name: "cleanup-config", script: SCRIPT });
  assertGuestOk(r, "cleanup --config script");
  const s = outputSections(r.stdout);
  const [vs, sets] = (s.get("before") ?? "").split("\n").map(Number);
  assert.ok(vs! >= 5 && sets! >= 5, `kipvs run programmed the node:\n${r.stdout}`);
  const cleanup = s.get("cleanup") ?? "";
  assert.match(cleanup, /\nrc=0$/, cleanup + r.stderr);
  const json = JSON.parse(cleanup.slice(0, cleanup.lastIndexOf("rc=")));
  assert.equal(json.removed.virtualServers.length, vs! - 1);
  assert.deepEqual(json.kept.virtualServers.map((v: { text: string }) => v.text), [
    "TCP/10.200.0.1:80",
  ]);
  // Only the excluded virtual server is left; nothing of kube-proxy's names remains.
  assert.match(s.get("after-ipvs")!, /^-A -t 10\.200\.0\.1:80 -s rr$/m);
  assert.equal(s.get("after-ipvs")!.split("\n").filter((l) => l.startsWith("-A")).length, 1);
  assert.equal(s.get("after-sets"), "");
  assert.equal(s.get("after-rules"), "0");
  assert.equal(s.get("after-link"), "absent");
  assert.match(s.get("again")!, /^nothing to remove: .*\nrc=0$/m);
});
