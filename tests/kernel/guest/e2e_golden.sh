# The golden scenario (tests/kernel/e2e_golden_test.ts): kipvs programs a node from
# tests/kernel/testdata/e2e/golden/manifests; the dumps are compared with the golden files there.
# No pods: IPVS, ipsets and iptables do not care whether endpoints answer. Sourced by the harness
# after lib.sh.
. "$GUEST_DIR/e2e_lib.sh"

# The node's only addresses besides loopback: 192.168.100.1 and fd00:100::1 on the uplink.
node_init || exit 1
kipvs_once golden --manifests "$E2E_DATA/golden/manifests"
dump golden
kipvs_once rerun --manifests "$E2E_DATA/golden/manifests"

# The same objects with other flags, on a node of its own: a network namespace whose uplink has
# the same addresses. Scheduler mh, masquerade bit 13, no --cluster-cidr.
ip netns add variant
ip -n variant link set lo up
ip -n variant link add uplink type dummy
ip -n variant addr add 192.168.100.1/24 dev uplink
ip -n variant addr add fd00:100::1/64 dev uplink nodad
ip -n variant link set uplink up
E2E_NETNS=variant
E2E_FLAGS=(--iptables-backend "$KIPVS_BACKEND" --rules-backend "${KIPVS_RULES:-iptables}"
  --ipvs-scheduler mh --masquerade-bit 13)
kipvs_once variant --manifests "$E2E_DATA/golden/manifests"
dump variant
