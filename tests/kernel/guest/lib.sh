# Shell library for scripts that run inside the test guest (see tests/kernel/harness.ts).
# Source it: `. "$KIPVS_ROOT/tests/kernel/guest/lib.sh"`. The harness sets KIPVS_ROOT, KIPVS_OUT
# and DENO_DIR; the node is the guest's root network namespace.
#
# Addresses: pods are network namespaces with a /32 (and /128) on eth0, joined to the node by a
# veth pair (node side "v-<pod>"), with a route back through the node via a link-local gateway
# (169.254.1.1 / fe80::1) pinned to the node side's MAC. Outside clients are namespaces on the
# node's "uplink" bridge br-ext (node 192.168.100.1/24, fd00:100::1/64).

GUEST_DIR="$KIPVS_ROOT/tests/kernel/guest"
DENO="$KIPVS_ROOT/node_modules/@deno/linux-x64-glibc/deno"
NODE_IP=192.168.100.1
NODE_IP6=fd00:100::1

# The test cell's iptables backend (tests/kernel/matrix.ts): legacy on 6.1, nft on 6.12. Scripts
# read and write rules through these programs ("$IPTABLES"-save, "$IP6TABLES" -A ...).
KIPVS_BACKEND=${KIPVS_BACKEND:-legacy}
IPTABLES=iptables-$KIPVS_BACKEND
IP6TABLES=ip6tables-$KIPVS_BACKEND

# kipvs ARGS...: run kipvs from source with the exact permissions of the compiled binary.
kipvs() {
  # shellcheck disable=SC2046
  "$DENO" run --node-modules-dir=manual --cached-only $(grep -v '^#' "$KIPVS_ROOT/scripts/permissions") \
    "$KIPVS_ROOT/main.ts" "$@"
}

# kipvs_bg LOG ARGS...: start kipvs in the background, output to LOG; its pid in KIPVS_PID.
kipvs_bg() {
  log=$1
  shift
  # exec: the pid is kipvs's own, so signals reach it.
  # shellcheck disable=SC2046
  (exec "$DENO" run --node-modules-dir=manual --cached-only \
    $(grep -v '^#' "$KIPVS_ROOT/scripts/permissions") "$KIPVS_ROOT/main.ts" "$@") >"$log" 2>&1 &
  KIPVS_PID=$!
}

# now_ms: wall clock in milliseconds.
now_ms() {
  date +%s%3N
}

# wait_for SECONDS CMD...: run CMD every 50 ms until it succeeds; print the milliseconds it took,
# or "timeout" and fail.
wait_for() {
  limit=$(($1 * 1000))
  shift
  t0=$(now_ms)
  until "$@" >/dev/null 2>&1; do
    if [ $(($(now_ms) - t0)) -gt "$limit" ]; then
      echo timeout
      return 1
    fi
    sleep 0.05
  done
  echo $(($(now_ms) - t0))
}

# node_init: the node's uplink bridge and forwarding (idempotent).
node_init() {
  ip link show br-ext >/dev/null 2>&1 && return 0
  ip link add br-ext type bridge
  ip addr add "$NODE_IP/24" dev br-ext
  ip addr add "$NODE_IP6/64" dev br-ext nodad
  ip link set br-ext up
  sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# pod_create NAME IPV4 [IPV6]: a pod namespace routed through the node.
pod_create() {
  name=$1 ip4=$2 ip6=${3:-}
  node_init
  ip netns add "$name"
  ip link add "v-$name" type veth peer name eth0 netns "$name"
  ip link set "v-$name" up
  ip -n "$name" link set lo up
  ip -n "$name" link set eth0 up
  mac=$(cat "/sys/class/net/v-$name/address")
  ip -n "$name" addr add "$ip4/32" dev eth0
  ip -n "$name" route add 169.254.1.1 dev eth0 scope link
  ip -n "$name" route add default via 169.254.1.1 dev eth0
  ip -n "$name" neigh replace 169.254.1.1 lladdr "$mac" dev eth0 nud permanent
  ip route add "$ip4/32" dev "v-$name"
  if [ -n "$ip6" ]; then
    ip -n "$name" addr add "$ip6/128" dev eth0 nodad
    ip -n "$name" route add default via fe80::1 dev eth0
    ip -n "$name" neigh replace fe80::1 lladdr "$mac" dev eth0 nud permanent
    ip route add "$ip6/128" dev "v-$name"
  fi
}

# pod_serve NAME PORT...: start the pod's TCP+UDP server answering with NAME; waits until it
# listens.
pod_serve() {
  name=$1
  shift
  ip netns exec "$name" python3 "$GUEST_DIR/podserver.py" "$name" "$@" \
    >"$KIPVS_OUT/podserver-$name.log" 2>&1 &
  for _ in $(seq 100); do
    grep -q listening "$KIPVS_OUT/podserver-$name.log" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "pod_serve: $name did not start" >&2
  cat "$KIPVS_OUT/podserver-$name.log" >&2
  return 1
}

# ext_create NAME IPV4 [IPV6]: an outside client on the node's uplink (IPV4 in 192.168.100.0/24).
ext_create() {
  name=$1 ip4=$2 ip6=${3:-}
  node_init
  ip netns add "$name"
  ip link add "e-$name" type veth peer name eth0 netns "$name"
  ip link set "e-$name" master br-ext up
  ip -n "$name" link set lo up
  ip -n "$name" link set eth0 up
  ip -n "$name" addr add "$ip4/24" dev eth0
  ip -n "$name" route add default via "$NODE_IP"
  if [ -n "$ip6" ]; then
    ip -n "$name" addr add "$ip6/64" dev eth0 nodad
    ip -n "$name" route add default via "$NODE_IP6"
  fi
}

# client ARGS...: the test client from the node (see client.py for ARGS).
client() {
  python3 "$GUEST_DIR/client.py" "$@"
}

# client_in NS ARGS...: the test client from inside a pod or outside-client namespace.
client_in() {
  ns=$1
  shift
  ip netns exec "$ns" python3 "$GUEST_DIR/client.py" "$@"
}
