// `--iptables-backend auto` on Linux 6.12, where both backends work, in one guest boot: four nodes
// (network namespaces) are programmed by `kipvs run --once` without naming a backend. A node
// whose iptables-nft holds kube-proxy's chains must get its rules in nft; one whose
// iptables-legacy holds them, in legacy; one with only kubelet's hint chain in nft (and a few
// legacy rules of another tool), in nft; an empty node, in nft. The other backend must stay
// without a KUBE- chain, and a second run must write nothing.
import assert from "node:assert/strict";
import { assertGuestOk, runInGuest } from "./harness.ts";
import { kipvsRun, section, sections, syncedLine } from "./e2e_output.ts";

const SCRIPT = String.raw`
. "$GUEST_DIR/e2e_lib.sh"
D="$KIPVS_ROOT/tests/kernel/guest/diag"
M="$D/cluster.yaml"
node() { # node NAME: a network namespace with the node's uplink address
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip -n "$1" link add uplink type dummy
  ip -n "$1" addr add 192.168.100.1/24 dev uplink
  ip -n "$1" link set uplink up
}
kube_proxy() { # kube_proxy NAME BACKEND: kube-proxy's IPVS-mode sets and rules, in BACKEND
  ip netns exec "$1" ipset restore <"$D/kube-proxy.ipset"
  ip netns exec "$1" "iptables-$2-restore" --noflush <"$D/kube-proxy.rules4"
  ip netns exec "$1" "ip6tables-$2-restore" --noflush <"$D/kube-proxy.rules6"
}
set -e
node nft; kube_proxy nft nft
node legacy; kube_proxy legacy legacy
node hint
ip netns exec hint iptables-nft -t mangle -N KUBE-IPTABLES-HINT
for p in 22 80 443; do ip netns exec hint iptables-legacy -A INPUT -p tcp --dport $p -j ACCEPT; done
node empty
set +e
E2E_FLAGS=(--cluster-cidr 10.244.0.0/16 --ipvs-exclude-cidrs 10.200.0.0/16)
for n in nft legacy hint empty; do
  E2E_NETNS=$n
  kipvs_once "$n" --manifests "$M"
  kipvs_once "$n-rerun" --manifests "$M"
  for b in nft legacy; do
    echo "=== $n $b"
    on_node "iptables-$b-save" -t nat | grep -c '^-A KUBE-SERVICES .*KUBE-CLUSTER-IP dst,dst -j ACCEPT$'
    on_node "iptables-$b-save" | grep -c '^:KUBE-'
  done
done
true # the last grep -c found nothing, as it should
`;

Deno.test("[6.12 auto] --iptables-backend auto writes where kube-proxy's or kubelet's chains are, else to nft", async (t) => {
  const r = await runInGuest({
    name: "backend-auto",
    kernel: "6.12",
    script: SCRIPT,
    timeoutMs: 180_000,
  });
  assertGuestOk(r, "backend detection script");
  const all = sections(r.stdout);
  const expected = { nft: "nft", legacy: "legacy", hint: "nft", empty: "nft" } as const;
  for (const [node, backend] of Object.entries(expected)) {
    await t.step(
      `${node} node: rules in ${backend}, none in the other, a rerun writes nothing`,
      () => {
        const run = kipvsRun(all, node);
        assert.equal(run.rc, 0, run.text);
        const said = run.logs.find((l) => l.msg === "iptables backend");
        assert.deepEqual([said?.backend, said?.choice], [backend, "auto"], run.text);
        const other = backend === "nft" ? "legacy" : "nft";
        // The chosen backend holds kipvs's rules (KUBE-SERVICES accepts the cluster IPs) ...
        const [rule, chains] = section(all, `${node} ${backend}`).split("\n").map(Number);
        assert.equal(rule, 1, section(all, `${node} ${backend}`));
        assert.ok(chains! >= 8, `${chains} KUBE- chains in ${backend}`);
        // ... and the other has no KUBE- chain.
        assert.equal(section(all, `${node} ${other}`), "0\n0", `${other} on the ${node} node`);
        const rerun = kipvsRun(all, `${node}-rerun`);
        assert.equal(rerun.rc, 0, rerun.text);
        assert.equal(syncedLine(rerun).writes, 0, rerun.text);
      },
    );
  }
});
