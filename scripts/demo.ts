/**
 * `make demo`: boots the test kernel (User-Mode Linux: the project's 6.12 once `make kernel` built
 * it, with iptables-nft; else Debian's 6.1, with iptables-legacy) and shows kipvs at work in it: three pods, `kipvs run` on examples/demo.yaml, balanced traffic, an endpoint removed and
 * the change applied, then a clean stop that leaves the dataplane in place. Runs on machines whose
 * own kernel has no IPVS.
 *
 * @module
 */

import { runInGuest } from "../tests/kernel/harness.ts";
import { resolveKernel } from "../tests/kernel/kernels.ts";

const script = String.raw`
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
tally() { sort | uniq -c | awk '{printf "  %s x%s", $2, $1} END {print ""}'; }

step "three pods (network namespaces) answering with their names on 8080/tcp and 5353/udp"
pod_create pod-a 10.244.1.2; pod_create pod-b 10.244.1.3; pod_create pod-c 10.244.1.4
ext_create outside 192.168.100.50
for p in a b c; do pod_serve pod-$p 8080 5353; done
echo "  pod-a 10.244.1.2   pod-b 10.244.1.3   pod-c 10.244.1.4   outside client 192.168.100.50"

step "kipvs run --manifests examples/demo.yaml (in the background)"
mkdir -p /run/demo && cp examples/demo.yaml /run/demo/
kipvs_bg $KIPVS_OUT/kipvs.log run --manifests /run/demo --iptables-backend $KIPVS_BACKEND --ipvs-min-sync-period 500ms
wait_for 30 sh -c 'ipvsadm -Sn | grep -q 30080' >/dev/null && echo "  programmed"
show ipvsadm -Ln

step "traffic: 9 connections to web (10.96.0.10:80), 6 datagrams to dns (10.96.0.53:53/udp)"
echo "web from the node:$(client tcp 10.96.0.10 80 --count 9 | tally)"
echo "web from pod-a:   $(client_in pod-a tcp 10.96.0.10 80 --count 9 | tally)"
echo "dns from the node:$(client udp 10.96.0.53 53 --count 6 | tally)"
echo "shop via NodePort 192.168.100.1:30080 from outside:$(client_in outside tcp 192.168.100.1 30080 --count 6 | tally)"

step "pod-c goes away: its endpoints are removed from the manifest"
sed -i '/10.244.1.4/d' /run/demo/demo.yaml
echo "  applied after $(wait_for 10 sh -c '! ipvsadm -Sn | grep -q "10.244.1.4:8080 -m -w 1"') ms"
echo "  new connections avoid pod-c at once; it drains at weight 0 (graceful termination) until the"
echo "  connections it served have left IPVS's table, then kipvs deletes it"
show ipvsadm -Ln
echo "web from the node:$(client tcp 10.96.0.10 80 --count 9 | tally)"

step "stop kipvs (SIGTERM): the dataplane stays, traffic keeps flowing"
T0=$(now_ms); kill -TERM $KIPVS_PID; wait $KIPVS_PID
echo "  exited $? after $(($(now_ms) - T0)) ms"
echo "web from the node:$(client tcp 10.96.0.10 80 --count 6 | tally)"

step "what kipvs logged"
grep -E 'synced|changed|running|stopping' $KIPVS_OUT/kipvs.log | cut -c1-160
`;

const kernel = await resolveKernel();
const backend = kernel.name === "6.1" ? "legacy" : "nft";
console.log(
  `booting the test kernel (User-Mode Linux ${kernel.name} with IPVS, iptables-${backend})...`,
);
const started = Date.now();
const r = await runInGuest({
  name: "demo",
  kernel,
  env: { KIPVS_BACKEND: backend },
  script,
  timeoutMs: 90_000,
  onStdout: (t) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
});
if (r.code !== 0) {
  console.error(r.stderr);
  console.error(
    `demo failed (exit ${r.code}); kernel console tail:\n` +
      r.console.split("\n").slice(-20).join("\n"),
  );
  Deno.exit(1);
}
console.log(`\ndemo done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
