# The guest side of `deno task bench:scale --source api --ab ...` (bench/scale.ts): the cold
# starts of several variants of kipvs (another checkout, other V8 flags) against one test API
# server, alternating, RUNS times each, in one boot: ratios between them hold whatever the
# host's load does to the absolute figures. Inputs (environment): DATA, RUNS, VARIANTS (one a
# line: "ROOT" runs ROOT/main.ts with ROOT/scripts/permissions; "ROOT FLAGS" with the V8 flags
# FLAGS instead of the permissions' (FLAGS "none": no V8 flags)). Each cold start has a network namespace of its own (a fresh
# kernel table) joined to the server's by a veth pair; kipvs serves node ports on the node
# address alone (--nodeport-addresses), as in scale_api_guest.sh. Prints for each
# `@ab V R T0 <synced line>`, `@ablist V R T0 <listed line>`, `abstat_V_R=<its
# /proc/PID/stat>` and `abhwm_V_R=<its peak RSS, kB>` (V and R from 1).
set -eu
L=/run/scale/logs
mkdir -p "$L"
KC=/run/scale/kubeconfig
# shellcheck source=bench/scale_lib.sh
. "$KIPVS_ROOT/bench/scale_lib.sh"

# variant_perms ROOT FLAGS: the permissions (and V8 flags) of a variant, into perms and V8FLAGS.
variant_perms() {
  perms=$(grep -v '^#' "$1/scripts/permissions")
  V8FLAGS=
  if [ -n "$2" ]; then
    perms=$(grep -v '^--v8-flags=' <<<"$perms")
    [ "$2" = none ] || V8FLAGS=$2
  fi
}

mapfile -t variants <<<"$VARIANTS"
mkns warm
for v in "${variants[@]}"; do
  read -r root flags <<<"$v"
  variant_perms "$root" "$flags"
  deno_in warm "$root/main.ts" --version >/dev/null
done
ip netns exec warm "$DENO" cache --node-modules-dir=manual "$KIPVS_ROOT/bench/scale_api.ts" \
  >/dev/null 2>&1 || true

ip link set lo up
mkfifo /run/scale/ctl
(exec "$DENO" run --node-modules-dir=manual --cached-only -A "$KIPVS_ROOT/bench/scale_api.ts" \
  --data "$DATA" --kubeconfig "$KC" --control /run/scale/ctl --host 0.0.0.0) >"$L/api.log" 2>&1 &
APID=$!
exec 8>/run/scale/ctl # the API server's commands; kept open for the whole run
until grep -q '^ready ' "$L/api.log"; do
  kill -0 "$APID" || { cat "$L/api.log" >&2; exit 1; }
  nap 0.5
done

n=0
for r in $(seq "$RUNS"); do
  for k in $(seq ${#variants[@]}); do
    # Rotate the order every run: no variant always goes first.
    i=$(((k + r - 2) % ${#variants[@]}))
    read -r root flags <<<"${variants[$i]}"
    n=$((n + 1))
    ns="ab$n"
    mkns "$ns"
    ip link add "vab$n" type veth peer name eth1 netns "$ns"
    ip addr add "10.99.$n.1/30" dev "vab$n"
    ip link set "vab$n" up
    ip -n "$ns" addr add "10.99.$n.2/30" dev eth1
    ip -n "$ns" link set eth1 up
    sed "s#http://0.0.0.0:#http://10.99.$n.1:#" "$KC" >"$KC.$n"
    SOURCE_ARGS="--kubeconfig $KC.$n --nodeport-addresses 192.168.100.0/24"
    KROOT=$root
    variant_perms "$root" "$flags"
    t0=$(ms)
    kipvs_in "$ns" "$L/$ns.log"
    wait_synced "$L/$ns.log" 1 1800
    echo "abstat_$((i + 1))_$r=$(cat "/proc/$KPID/stat")"
    echo "abhwm_$((i + 1))_$r=$(hwm_kb "$KPID")"
    stop_kipvs
    echo "@ab $((i + 1)) $r $t0 $(synced_lines "$L/$ns.log" 1)"
    echo "@ablist $((i + 1)) $r $t0 $(grep -m1 '"msg":"cluster state listed"' "$L/$ns.log")"
  done
done
echo quit >&8
wait "$APID" || true
