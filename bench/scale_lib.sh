# Shell functions of bench:scale's guest scripts (scale_guest.sh for manifests,
# scale_api_guest.sh for the API server), sourced after lib.sh. They need L (a log folder on
# tmpfs), perms (scripts/permissions' flags), SOURCE_ARGS, PROF and V8FLAGS (see scale_guest.sh).
#
# The guest has one CPU: while something is measured, these wait with bash builtins only (a
# program started every 50 ms to poll a log costs kipvs a third of the CPU), and namespaces are
# never deleted (the kernel tears a deleted namespace down in the background, for seconds with
# 100,000 real servers in it). Times come from kipvs's own log, not from the polling.

mkfifo /run/scale/nap
exec 9<>/run/scale/nap # never written: `read -t` on it is a sleep without a process

ms() { date +%s%3N; }
nap() { read -r -t "$1" -u 9 || true; }
now() { NOW=$((${EPOCHREALTIME/./} / 1000)); } # ms, into NOW, without a process

# mkns NS: a fresh network namespace with lo and one node address (node ports are served there).
mkns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip -n "$1" link add eth0 type dummy
  ip -n "$1" addr add 192.168.100.1/24 dev eth0
  ip -n "$1" link set eth0 up
}

deno_in() { # deno_in NS SCRIPT ARGS...: a Deno program in NS with exactly kipvs's permissions
  local ns=$1
  shift
  # shellcheck disable=SC2086
  ip netns exec "$ns" "$DENO" run --node-modules-dir=manual --cached-only $perms "$@"
}

# kipvs_in NS LOG [PERIOD]: `kipvs run` (of $KROOT, default $KIPVS_ROOT) on $SOURCE_ARGS
# (--manifests DIR or --kubeconfig FILE) in NS, in the background, with
# --ipvs-sync-period PERIOD (default 10m: no resync while measuring); its pid in KPID.
kipvs_in() {
  local ns=$1 log=$2
  # exec all the way down: KPID is Deno's own pid (signals and /proc/PID/status reach it).
  # shellcheck disable=SC2086
  (exec ip netns exec "$ns" "$DENO" run --node-modules-dir=manual --cached-only $perms \
    ${PROF:+--cpu-prof --cpu-prof-dir="$PROF"} ${V8FLAGS:+--v8-flags="$V8FLAGS"} "${KROOT:-$KIPVS_ROOT}/main.ts" run $SOURCE_ARGS \
    --iptables-backend legacy --rules-backend "${RULES:-iptables}" --log-format json \
    --hostname-override node-0 --ipvs-sync-period "${3:-10m}") >"$log" 2>&1 &
  KPID=$!
}

# probe_start NS: a client polling kipvs's /healthz in NS every 50 ms (one process for the
# whole window, see healthz_poll.py), once it has made its first request; its pid in
# PPID_PROBE, its lines in $L/probe-NS.
probe_start() {
  rm -f "$L/probe-$1"
  ip netns exec "$1" /usr/bin/python3 "$KIPVS_ROOT/bench/healthz_poll.py" \
    http://127.0.0.1:10256/healthz "$L/probe-$1" 50 &
  PPID_PROBE=$!
  until [ -s "$L/probe-$1" ]; do nap 0.05; done
}

# probe_stop NS: stops the probe and prints its lines as "@probe NS <start> <ms> <status>".
probe_stop() {
  kill -TERM "$PPID_PROBE"
  wait "$PPID_PROBE" || true
  while IFS= read -r line; do echo "@probe $1 $line"; done <"$L/probe-$1"
}

# count_synced LOG: the number of "synced" lines of LOG, into SYNCED (bash builtins only).
count_synced() {
  local line
  SYNCED=0
  [ -e "$1" ] || return 0
  while IFS= read -r line; do
    [[ $line == *'"msg":"synced"'* ]] && SYNCED=$((SYNCED + 1))
  done <"$1"
  return 0
}

# wait_synced LOG N SECONDS [NAP]: until LOG holds N "synced" lines, looking every NAP seconds.
wait_synced() {
  local since
  now
  since=$NOW
  while count_synced "$1" && [ "$SYNCED" -lt "$2" ]; do
    if ! kill -0 "$KPID" 2>/dev/null; then
      echo "kipvs exited while waiting for sync $2" >&2
      tail -n 30 "$1" >&2
      return 1
    fi
    now
    if [ $((NOW - since)) -gt $(($3 * 1000)) ]; then
      echo "timeout waiting for sync $2 in $1" >&2
      tail -n 30 "$1" >&2
      return 1
    fi
    nap "${4:-0.5}"
  done
}

synced_lines() { grep '"msg":"synced"' "$1" | tail -n +"$2"; } # synced_lines LOG FROM

hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

stop_kipvs() {
  kill -TERM "$KPID"
  wait "$KPID" || true
}

same() { cmp -s "$1" "$2" && echo 1 || echo 0; }
