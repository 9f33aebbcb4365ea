import assert from "node:assert/strict";
import { assertGuestOk, outputSections, runGuestTests, runInGuest } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

// Sets for the traffic scenario: ClusterIP 10.96.0.10:80 (pod-a, pod-b); ClusterIP
// 10.96.0.20:80 with pod-a as its only endpoint (hairpin); LoadBalancer 203.0.113.10:80 with
// loadBalancerSourceRanges 192.168.100.10/32 (ext-a allowed, ext-b and the node not).
const SETS = {
  "KUBE-CLUSTER-IP": ["10.96.0.10,tcp:80", "10.96.0.20,tcp:80"],
  "KUBE-LOOP-BACK": ["10.244.1.2,tcp:8080,10.244.1.2", "10.244.1.3,tcp:8080,10.244.1.3"],
  "KUBE-LOAD-BALANCER": ["203.0.113.10,tcp:80"],
  "KUBE-LOAD-BALANCER-FW": ["203.0.113.10,tcp:80"],
  "KUBE-LOAD-BALANCER-SOURCE-CIDR": ["203.0.113.10,tcp:80,192.168.100.10/32"],
  "KUBE-IPVS-IPS": ["10.96.0.10", "10.96.0.20", "203.0.113.10"],
};

const TRAFFIC = `set -e
sysctl -qw net.ipv4.vs.conntrack=1
pod_create pod-a 10.244.1.2
pod_create pod-b 10.244.1.3
pod_serve pod-a 8080
pod_serve pod-b 8080
ext_create ext-a 192.168.100.10
ext_create ext-b 192.168.100.20
# A process on the node listening on every address: kube-ipvs0's addresses must not expose it.
python3 "$GUEST_DIR/podserver.py" node 9999 >"$KIPVS_OUT/node-9999.log" 2>&1 &
ip link add kube-ipvs0 type dummy
for a in 10.96.0.10 10.96.0.20 203.0.113.10; do ip addr add $a/32 dev kube-ipvs0; done
for vip in 10.96.0.10 203.0.113.10; do
  ipvsadm -A -t $vip:80 -s rr
  ipvsadm -a -t $vip:80 -r 10.244.1.2:8080 -m
  ipvsadm -a -t $vip:80 -r 10.244.1.3:8080 -m
done
ipvsadm -A -t 10.96.0.20:80 -s rr
ipvsadm -a -t 10.96.0.20:80 -r 10.244.1.2:8080 -m
sleep 0.3
set +e
probe() { # NAME CLIENT-ARGS...: one line "NAME answers..."
  name=$1; shift
  echo "$name $("$@" | sort -u | xargs)"
}
checks() {
  probe hairpin client_in pod-a tcp 10.96.0.20 80 --timeout 1
  probe cluster-node client tcp 10.96.0.10 80 --count 4
  probe cluster-pod client_in pod-b tcp 10.96.0.10 80 --count 4
  probe lb-allowed client_in ext-a tcp 203.0.113.10 80 --count 4
  probe lb-other client_in ext-b tcp 203.0.113.10 80 --timeout 1
  probe lb-node client tcp 203.0.113.10 80 --timeout 1
  probe vip-other-port client_in ext-a tcp 10.96.0.10 9999 --timeout 1
  probe node-other-port client_in ext-a tcp 192.168.100.1 9999 --timeout 1
}
echo "=== before"
checks
echo "=== apply"
"$DENO" run --node-modules-dir=manual --cached-only -A "$GUEST_DIR/rules_apply.ts" "$RULES_INPUT"
echo "=== after"
checks
echo "=== stats"
ipvsadm -Ln --stats
"$IPTABLES" -t nat -L KUBE-POSTROUTING -v -n
`;

matrixTest(
  "ipset and iptables payloads round-trip through the real kernel (apply, rerun, change, errors, cleanup)",
  async (_t, cell) => {
    const r = await runGuestTests(["tests/kernel/guest/rules.guest.ts"], {
      name: "rules-apply",
      kernel: cell.kernel,
      env: cellEnv(cell),
      timeoutMs: 180_000,
    });
    assertGuestOk(r, "guest tests");
    assert.match(r.stdout, /ok \| 10 passed \| 0 failed/);
  },
);

matrixTest(
  "the rules act on real traffic: source ranges, kube-ipvs0 port filter, hairpin masquerade",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "rules-traffic",
      kernel: cell.kernel,
      script: TRAFFIC,
      env: {
        ...cellEnv(cell),
        RULES_INPUT: JSON.stringify({ sets: SETS, families: [4], clusterCIDRs: ["10.244.0.0/16"] }),
      },
      timeoutMs: 180_000,
    });
    assertGuestOk(r, "traffic script");
    const s = outputSections(r.stdout);
    const line = (section: string, probe: string) => {
      const l = (s.get(section) ?? "").split("\n").find((x) => x.startsWith(probe + " "));
      return l?.slice(probe.length + 1) ?? assert.fail(`no ${section}/${probe}:\n${r.stdout}`);
    };
    // Without the rules: hairpin breaks, the source ranges and the port filter do nothing.
    assert.equal(line("before", "hairpin"), "ERR timeout");
    assert.match(line("before", "lb-other"), /^pod-[ab]$/);
    assert.match(line("before", "lb-node"), /^pod-[ab]$/);
    assert.equal(line("before", "vip-other-port"), "node");
    assert.match(s.get("apply") ?? "", /"writes":2/);
    // With them:
    assert.equal(line("after", "hairpin"), "pod-a", "a pod reaches itself through its service");
    assert.equal(line("after", "cluster-node"), "pod-a pod-b");
    assert.equal(line("after", "cluster-pod"), "pod-a pod-b");
    assert.equal(line("after", "lb-allowed"), "pod-a pod-b", "an allowed source is served");
    assert.equal(line("after", "lb-other"), "ERR timeout", "another source is dropped");
    assert.equal(line("after", "lb-node"), "ERR timeout", "the node is outside the ranges");
    assert.equal(line("after", "vip-other-port"), "ERR refused", "non-service port on a VIP");
    assert.equal(line("after", "node-other-port"), "node", "the node's own address still serves");
  },
);
