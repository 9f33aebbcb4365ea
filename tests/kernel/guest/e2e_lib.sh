# Helpers of the end-to-end guest scripts (tests/kernel/guest/e2e_*.sh), on top of lib.sh.
# Everything a host test asserts on is printed to stdout in sections that start with a line
# "=== NAME"; tests/kernel/e2e_output.ts reads them back.

E2E_DATA="$KIPVS_ROOT/tests/kernel/testdata/e2e"
E2E_RUN=/run/e2e
mkdir -p "$E2E_RUN"

# The flags every end-to-end run passes: the cell's iptables backend, and the pods' CIDRs that
# tell local traffic from the rest.
# The cell's rules backend (KIPVS_RULES, tests/kernel/matrix.ts) too.
E2E_FLAGS=(--iptables-backend "$KIPVS_BACKEND" --rules-backend "${KIPVS_RULES:-iptables}"
  --cluster-cidr 10.244.0.0/16,fd00:244::/64)

# e2e_cluster: three pods and two outside clients, each pod serving TCP and UDP on 8080.
# pod-a and pod-b are this node's endpoints; pod-c is routed like them but the EndpointSlices
# put it on "node-2". ext-a and ext-b sit on the node's uplink bridge.
e2e_cluster() {
  pod_create pod-a 10.244.1.2 fd00:244::2 &&
    pod_create pod-b 10.244.1.3 fd00:244::3 &&
    pod_create pod-c 10.244.2.4 fd00:244::4 &&
    pod_serve pod-a 8080 && pod_serve pod-b 8080 && pod_serve pod-c 8080 &&
    ext_create ext-a 192.168.100.10 fd00:100::10 &&
    ext_create ext-b 192.168.100.20 fd00:100::20
}

# ms_since START: milliseconds since START, a value of $EPOCHREALTIME.
ms_since() {
  local now=${EPOCHREALTIME/./} start=${1/./}
  echo $(((now - start) / 1000))
}

# kipvs_once NAME ARGS...: one `kipvs run --once` with the e2e flags, printed as section
# "=== kipvs NAME": "rc N", "ms N" (wall time, Deno's start included), then its log (JSON lines)
# and whatever it printed on stdout. Its output goes through files on the guest's tmpfs. With
# E2E_NETNS set, kipvs runs inside that network namespace (a node of its own).
kipvs_once() {
  local name=$1 start=$EPOCHREALTIME rc
  shift
  local -a cmd=(kipvs)
  # shellcheck disable=SC2016
  [ -n "${E2E_NETNS:-}" ] && cmd=(ip netns exec "$E2E_NETNS" bash -c \
    '. "$KIPVS_ROOT/tests/kernel/guest/lib.sh" && kipvs "$@"' kipvs)
  "${cmd[@]}" --log-format json run --once "${E2E_FLAGS[@]}" "$@" \
    >"$E2E_RUN/kipvs-$name.out" 2>"$E2E_RUN/kipvs-$name.log"
  rc=$?
  echo "=== kipvs $name"
  echo "rc $rc"
  echo "ms $(ms_since "$start")"
  cat "$E2E_RUN/kipvs-$name.log" "$E2E_RUN/kipvs-$name.out"
}

# probe NAME COMMAND...: one line "NAME ANSWER,ANSWER,..." with the test client's answers in
# order (an answer may hold spaces: "ERR timeout").
probe() {
  local name=$1
  shift
  echo "$name $("$@" | paste -sd,)"
}

# connect NAME NAMESPACE HOST PORT: one TCP connect from NAMESPACE ("-" for the node), timed
# inside the client (e2e_connect.py). Prints "NAME open|refused|unreachable|timeout|error:.. MS".
connect() {
  local name=$1 ns=$2
  shift 2
  if [ "$ns" = - ]; then
    echo "$name $(python3 "$GUEST_DIR/e2e_connect.py" "$@")"
  else
    echo "$name $(ip netns exec "$ns" python3 "$GUEST_DIR/e2e_connect.py" "$@")"
  fi
}

# on_node COMMAND...: COMMAND on the node: inside E2E_NETNS when it is set.
on_node() {
  if [ -n "${E2E_NETNS:-}" ]; then ip netns exec "$E2E_NETNS" "$@"; else "$@"; fi
}

# dump NAME: what the node holds, as sections "=== NAME ipvs|ipset|iptables|ip6tables|addresses"
# (raw; the host normalises them).
dump() {
  echo "=== $1 ipvs"
  on_node ipvsadm -Sn
  echo "=== $1 ipset"
  on_node ipset save
  echo "=== $1 iptables"
  on_node "$IPTABLES"-save
  echo "=== $1 ip6tables"
  on_node "$IP6TABLES"-save
  echo "=== $1 addresses"
  on_node ip -o addr show dev kube-ipvs0 | awk '{ print $4 }'
  echo "=== $1 nft"
  # Empty where the kernel has no nf_tables (the 6.1 cell): not a failure of the dump.
  on_node nft list ruleset 2>/dev/null | grep -v '^# Warning' || true
}
