# The lifecycle scenario (tests/kernel/e2e_lifecycle_test.ts): a manifest directory with bad
# objects next to good ones and virtual servers kipvs did not make, a rerun that must not write,
# a service removed from the manifests while a connection to another is open, and last a sync
# the kernel refuses. Sourced by the harness after lib.sh.
. "$GUEST_DIR/e2e_lib.sh"

set -e
pod_create pod-a 10.244.1.2 fd00:244::2
pod_create pod-b 10.244.1.3 fd00:244::3
pod_serve pod-a 8080
pod_serve pod-b 8080
ext_create ext-a 192.168.100.10 fd00:100::10
# The manifests on the guest's tmpfs, where the test may delete a file.
cp -r "$E2E_DATA/lifecycle" "$E2E_RUN/manifests"
# Virtual servers kipvs did not make: a stale one, and another tool's inside
# --ipvs-exclude-cidrs.
ipvsadm -A -t 10.250.0.1:80 -s rr
ipvsadm -A -t 172.30.0.1:80 -s wrr
set +e

M=$E2E_RUN/manifests
E2E_FLAGS+=(--ipvs-exclude-cidrs 172.30.0.0/16)
# Debug level: ignored kinds are reported at debug.
kipvs_once first --manifests "$M" --log-level debug
kipvs_once rerun --manifests "$M"
dump before

traffic() {
  echo "=== traffic $1"
  probe keep-a client tcp 10.96.1.10 80 --count 2
  probe keep-a-external client_in ext-a tcp 198.51.100.40 80 --count 2
  probe keep-b6 client udp fd00:96::1:11 53 --count 2
  probe gone client tcp 10.96.1.20 80 --timeout 1
  probe gone6 client tcp fd00:96::1:20 80 --timeout 1
  probe gone-nodeport client_in ext-a tcp 192.168.100.1 30091 --timeout 1
  probe gone-external client_in ext-a tcp 198.51.100.41 80 --timeout 1
}
traffic before

# A connection to keep-a stays open across the removal of another service.
client hold 10.96.1.10 80 --seconds 6 --interval 0.2 >"$E2E_RUN/hold.out" 2>&1 &
hold=$!
sleep 0.5
rm "$M/gone.yaml"
kipvs_once removed --manifests "$M"
dump after
wait "$hold"
echo "=== held"
cat "$E2E_RUN/hold.out"
traffic after

# A sync the kernel refuses, on a node of its own (a fresh network namespace): another tool holds
# a set of kube-proxy's name but another type, pinned by an iptables rule so that it can be
# neither adopted nor replaced.
ip netns add refused
ip -n refused link set lo up
ip netns exec refused ipset create KUBE-CLUSTER-IP hash:ip
ip netns exec refused "$IPTABLES" -A INPUT -m set --match-set KUBE-CLUSTER-IP dst -j ACCEPT
E2E_NETNS=refused kipvs_once refused --manifests "$M"
