# The guest side of `deno task bench:scale --source api` (bench/scale.ts), run by
# tests/kernel/harness.ts with lib.sh sourced. Inputs (environment): DATA (the folder scale.ts
# wrote: shape.json, objects.json, expected-*.rules), CHANGES, CHURN_S (seconds of 1% churn per
# second), RESYNC_S, PROF. The test API server (bench/scale_api.ts) runs in the same network
# namespace as kipvs, on the guest's one CPU too, and makes the edits when told on a FIFO.
# Figures are printed as in scale_guest.sh; how it waits and measures: see scale_lib.sh.
set -eu
perms=$(grep -v '^#' "$KIPVS_ROOT/scripts/permissions")
L=/run/scale/logs
mkdir -p "$L"
KC=/run/scale/kubeconfig
SOURCE_ARGS="--kubeconfig $KC"
# shellcheck source=bench/scale_lib.sh
. "$KIPVS_ROOT/bench/scale_lib.sh"

# api CMD: one command to the API server; waits for its "done" line (bash builtins only).
api() {
  local want=$(($(grep -c '^done ' "$L/api.log" || true) + 1)) have
  echo "$1" >&8
  while :; do
    have=0
    while IFS= read -r line; do [[ $line == done\ * ]] && have=$((have + 1)); done <"$L/api.log"
    [ "$have" -ge "$want" ] && return 0
    nap 0.1
  done
}

# Deno's cache in the guest starts empty: compile kipvs, the reader and the server once.
mkns warm
deno_in warm "$KIPVS_ROOT/main.ts" --version >/dev/null
deno_in warm "$KIPVS_ROOT/bench/ipvs_cli.ts" save >/dev/null
ip netns exec warm "$DENO" cache --node-modules-dir=manual "$KIPVS_ROOT/bench/scale_api.ts" >/dev/null 2>&1 || true

mkns k1
mkfifo /run/scale/ctl
t=$(ms)
(exec ip netns exec k1 "$DENO" run --node-modules-dir=manual --cached-only -A \
  "$KIPVS_ROOT/bench/scale_api.ts" --data "$DATA" --kubeconfig "$KC" --control /run/scale/ctl) \
  >"$L/api.log" 2>&1 &
APID=$!
# Read-write: opening a FIFO for writing alone blocks until a reader comes, forever if the API
# server died first (the loop below then names its error).
exec 8<>/run/scale/ctl # the API server's commands; kept open for the whole run
until grep -q '^ready ' "$L/api.log"; do
  kill -0 "$APID" || { cat "$L/api.log" >&2; exit 1; }
  nap 0.5
done
echo "api_ready_ms=$(($(ms) - t)) api_rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$APID/status")"

# (a) cold start, the probe polling /healthz throughout.
probe_start k1
echo "api_stat_before=$(cat "/proc/$APID/stat")"
t0=$(ms)
kipvs_in k1 "$L/k1.log"
wait_synced "$L/k1.log" 1 1800
echo "cold_stat=$(cat "/proc/$KPID/stat")"
echo "api_stat_after=$(cat "/proc/$APID/stat")"
probe_stop k1
echo "@cold $t0 $(synced_lines "$L/k1.log" 1)"
echo "@coldlist $t0 $(grep -m1 '"msg":"cluster state listed"' "$L/k1.log")"
echo "rss_cold_kb=$(hwm_kb "$KPID")"
deno_in k1 "$KIPVS_ROOT/bench/ipvs_cli.ts" save | sort >"$KIPVS_OUT/k1.ipvs"
sort "$DATA/expected-initial.rules" >"$KIPVS_OUT/expected-initial"
echo "same_plan=$(same "$KIPVS_OUT/k1.ipvs" "$KIPVS_OUT/expected-initial")"
echo "ipvs_lines=$(wc -l <"$KIPVS_OUT/k1.ipvs")"
if [ -n "${COLD_ONLY:-}" ]; then # bench:scale --cold-only: the cold start alone
  stop_kipvs
  echo quit >&8
  wait "$APID" || true
  exit 0
fi
# The probe with kipvs idle: the floor of what this guest and host answer in (their load).
probe_start k1
echo "idle_from=$(ms)"
nap 10
echo "idle_to=$(ms)"
probe_stop k1

# (b) single endpoint changes, each after the min sync period has passed.
log="$L/k1.log"
for c in $(seq "$CHANGES"); do
  nap 1.2
  count_synced "$log"
  n=$SYNCED
  t=$(ms)
  api "one $c"
  wait_synced "$log" $((n + 1)) 60 0.05
  echo "@change $t $(synced_lines "$log" $((n + 1)))"
done

# (c) 1% of the services changed every second for CHURN_S seconds; RSS at its start and end.
nap 2
echo "rss_churn_start_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$KPID/status")"
count_synced "$log"
n=$SYNCED
t=$(ms)
cpu_marks() { # cpu_marks WHEN: kipvs's, the API server's and the guest's CPU counters
  echo "churn_kstat_$1=$(cat "/proc/$KPID/stat")"
  echo "churn_astat_$1=$(cat "/proc/$APID/stat")"
  echo "churn_cpu_$1=$(head -n 1 /proc/stat)"
}
cpu_marks start
api "churn 1 $CHURN_S"
echo "rss_churn_end_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$KPID/status")"
# kipvs may be behind (the server streams 1% of the cluster a second on the same CPU): one more
# edit (the sentinel) after the churn; once kipvs has programmed it, it has programmed every
# edit before it (one watch, in order). Say how long after the churn began that was.
api sentinel
read -r SVIP SIP <"$DATA/sentinel"
now
since=$NOW
until ip netns exec k1 ipvsadm -Ln -t "$SVIP:80" 2>/dev/null | grep -q " $SIP:"; do
  now
  [ $((NOW - since)) -gt 900000 ] && { echo "the sentinel edit never came" >&2; break; }
  nap 0.2
done
now
echo "churn_settled_ms=$((NOW - t))"
cpu_marks end
# The processes and kernel threads with the most CPU time so far (with --verbose).
ps -eo time,comm --sort=-time | head -n 8 | sed 's/^/@top /'

synced_lines "$log" $((n + 1)) | while read -r line; do echo "@churn1 $t $line"; done
grep '^@edit churn' "$L/api.log" | sed 's/^/@api /'

# What kipvs programmed after every edit is the plan of the edited cluster.
deno_in k1 "$KIPVS_ROOT/bench/ipvs_cli.ts" save | sort >"$KIPVS_OUT/k1.final"
sort "$DATA/expected-final.rules" >"$KIPVS_OUT/expected-final"
echo "same_final=$(same "$KIPVS_OUT/k1.final" "$KIPVS_OUT/expected-final")"
diff "$KIPVS_OUT/k1.final" "$KIPVS_OUT/expected-final" | head -5 | sed 's/^/diff_final: /'
ip netns exec k1 curl -s http://127.0.0.1:10249/metrics |
  grep -E '^(kubeproxy_network_programming_duration_seconds|kipvs_writes_total|kipvs_sync_last_writes)' |
  sed 's/^/@metric /'
echo "rss_run_kb=$(hwm_kb "$KPID")"
stop_kipvs
grep -v '"msg":"synced"' "$L/k1.log" | tail -n 20 | sed 's/^/@log /'

# (d) a restart with nothing changed, then (f) its first periodic full resync.
nap 1
probe_start k1
t0=$(ms)
kipvs_in k1 "$L/k1-restart.log" "${RESYNC_S}s"
wait_synced "$L/k1-restart.log" 1 1800
echo "@restart $t0 $(synced_lines "$L/k1-restart.log" 1)"
echo "@restartlist $t0 $(grep -m1 '"msg":"cluster state listed"' "$L/k1-restart.log")"
echo "rss_restart_kb=$(hwm_kb "$KPID")"
wait_synced "$L/k1-restart.log" 2 $((RESYNC_S + 1800))
probe_stop k1
echo "@resync $t0 $(synced_lines "$L/k1-restart.log" 2)"
stop_kipvs
echo "api_rss_end_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$APID/status")"
echo quit >&8
wait "$APID" || true
