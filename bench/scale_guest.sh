# The guest side of `deno task bench:scale` (bench/scale.ts), run by tests/kernel/harness.ts with
# lib.sh sourced. Inputs (environment): DATA (the folder scale.ts wrote), RUNS, CHANGES, CHURN.
# Every figure is printed as "key=value" or as "@event T0 {synced log line}"; scale.ts reads them.
# How it waits and measures: see scale_lib.sh.
set -eu
perms=$(grep -v '^#' "$KIPVS_ROOT/scripts/permissions")
M=/run/scale/m         # the manifests kipvs watches (tmpfs: file events work there, not on hostfs)
STAGE=/run/scale/stage # edits are staged here, then renamed into $M (atomic, like kubectl cp)
L=/run/scale/logs      # kipvs's logs, on tmpfs too: hostfs is slow, and racy to poll
mkdir -p "$M" "$STAGE" "$L" /run/scale/empty
cp -r "$DATA/manifests/." "$M/"
B="$DATA/baseline"
SOURCE_ARGS="--manifests $M"
# shellcheck source=bench/scale_lib.sh
. "$KIPVS_ROOT/bench/scale_lib.sh"

baseline() { # baseline NS: the direct load, each tool timed whole
  local t
  mkns "$1"
  t=$(ms)
  ip netns exec "$1" ipvsadm -R <"$B/ipvsadm.rules"
  echo "base_ipvsadm_ms=$(($(ms) - t))"
  t=$(ms)
  ip netns exec "$1" ipset restore <"$B/ipset.restore"
  echo "base_ipset_ms=$(($(ms) - t))"
  t=$(ms)
  ip netns exec "$1" iptables-legacy-restore --noflush <"$B/iptables4.restore"
  ip netns exec "$1" ip6tables-legacy-restore --noflush <"$B/iptables6.restore"
  echo "base_iptables_ms=$(($(ms) - t))"
  ip -n "$1" link add kube-ipvs0 type dummy
  t=$(ms)
  ip -n "$1" -batch "$B/addresses.batch"
  echo "base_addresses_ms=$(($(ms) - t))"
}

cold() { # cold NS: kipvs from process start to its first sync done; leaves it running
  local t0
  mkns "$1"
  probe_start "$1"
  t0=$(ms)
  kipvs_in "$1" "$L/$1.log"
  wait_synced "$L/$1.log" 1 900
  probe_stop "$1"
  echo "@cold $t0 $(synced_lines "$L/$1.log" 1)"
  echo "@coldread $t0 $(grep -m1 '"msg":"read manifests"' "$L/$1.log")"
}

# What a namespace holds, normalised: IPVS (through kipvs's reader, which prints ipvsadm -Sn's
# lines), ipsets (initval is random per set, and so is the hashsize a set has grown to: a hash
# set doubles when a bucket fills, which depends on where the random hash puts the entries),
# iptables of both families (counters zeroed), kube-ipvs0's addresses.
snapshot() {
  deno_in "$1" "$KIPVS_ROOT/bench/ipvs_cli.ts" save | sort >"$KIPVS_OUT/$1.ipvs"
  ip netns exec "$1" ipset save | sed 's/ initval 0x[0-9a-f]*//; s/ hashsize [0-9]*//' | sort >"$KIPVS_OUT/$1.ipset"
  ip netns exec "$1" nft list ruleset 2>/dev/null | grep -c ' \. \| @' >"$KIPVS_OUT/$1.nft" || true
  for t in iptables ip6tables; do
    ip netns exec "$1" "$t-legacy-save" | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]/[0:0]/'
  done >"$KIPVS_OUT/$1.iptables"
  ip -n "$1" -o addr show dev kube-ipvs0 | awk '{print $4}' | sort >"$KIPVS_OUT/$1.addr"
}


# Deno's cache in the guest starts empty: compile kipvs and the reader once, as an install would.
mkns warm
deno_in warm "$KIPVS_ROOT/main.ts" run --once --skip-sysctl --manifests /run/scale/empty \
  --iptables-backend legacy --hostname-override node-0 >/dev/null 2>&1
deno_in warm "$KIPVS_ROOT/bench/ipvs_cli.ts" save >/dev/null
t=$(ms)
deno_in warm "$KIPVS_ROOT/main.ts" --version >/dev/null
echo "deno_start_ms=$(($(ms) - t))"

# nftables mode: first, the first sync of iptables mode on the same cluster in the same boot, in a
# namespace of its own (then stopped), for the comparison of the two backends.
if [ "${RULES:-iptables}" = nftables ]; then
  mkns i1
  t0=$(ms)
  RULES=iptables kipvs_in i1 "$L/i1.log"
  wait_synced "$L/i1.log" 1 900
  echo "@coldother $t0 $(synced_lines "$L/i1.log" 1)"
  stop_kipvs
  nap 1
fi

for r in $(seq "$RUNS"); do
  # Alternate which side goes first; each in a namespace of its own.
  if [ "$BASELINE" = 0 ]; then
    cold "k$r"
  elif [ $((r % 2)) -eq 1 ]; then
    baseline "b$r"
    nap 1
    cold "k$r"
  else
    cold "k$r"
    echo "rss_cold_kb=$(hwm_kb "$KPID")"
    stop_kipvs
    nap 1
    baseline "b$r"
    continue
  fi
  echo "rss_cold_kb=$(hwm_kb "$KPID")"
  if [ "$r" -gt 1 ]; then
    stop_kipvs
    continue
  fi

  # Both namespaces hold the same content, and it is the plan's.
  snapshot k1
  if [ "$BASELINE" != 0 ]; then
    snapshot b1
    for f in ipvs ipset iptables addr; do
      echo "same_$f=$(same "$KIPVS_OUT/k1.$f" "$KIPVS_OUT/b1.$f")"
      diff "$KIPVS_OUT/k1.$f" "$KIPVS_OUT/b1.$f" | head -5 | sed "s/^/diff_$f: /"
    done
  fi
  sort "$DATA/expected-initial.rules" >"$KIPVS_OUT/expected-initial"
  echo "same_plan=$(same "$KIPVS_OUT/k1.ipvs" "$KIPVS_OUT/expected-initial")"
  echo "ipvs_lines=$(wc -l <"$KIPVS_OUT/k1.ipvs") ipset_lines=$(wc -l <"$KIPVS_OUT/k1.ipset")"

  # (b) one endpoint change at a time, after the min sync period has passed.
  log="$L/k1.log"
  for c in $(seq "$CHANGES"); do
    d="$DATA/one-$c"
    cp "$d/"svc-* "$STAGE/"
    nap 1.5
    count_synced "$log"
    n=$SYNCED
    t=$(ms)
    mv "$STAGE/"svc-* "$M/"
    wait_synced "$log" $((n + 1)) 60 0.1
    echo "@change $t $(synced_lines "$log" $((n + 1)))"
    read -r vip ip <"$d/expect"
    ip netns exec k1 ipvsadm -Ln -t "$vip" | grep -q " $ip:" && echo "change_ok=1" || echo "change_ok=0"
  done

  # (c) 1% of the services churned at once: one endpoint each, all renamed in by one mv. A burst
  # may be split over two reloads: wait until the syncs since have replanned every service.
  # (/proc/net/ip_vs cannot tell: it skips entries when read in pieces.) The final check below
  # compares the whole table with the plan.
  for c in $(seq "$CHURN"); do
    d="$DATA/churn-$c"
    cp "$d/"svc-* "$STAGE/"
    read -r want <"$d/expect"
    nap 1.5
    count_synced "$log"
    n=$SYNCED
    t=$(ms)
    mv "$STAGE/"svc-* "$M/"
    k=$((n + 1))
    while :; do
      wait_synced "$log" "$k" 120 0.1
      have=0
      synced_lines "$log" $((n + 1)) >/run/scale/since
      while IFS= read -r line; do
        [[ $line =~ \"services\":([0-9]+) ]] && have=$((have + BASH_REMATCH[1]))
      done </run/scale/since
      [ "$have" -ge "$want" ] && break
      k=$((k + 1))
    done
    synced_lines "$log" $((n + 1)) | while read -r line; do echo "@churn$c $t $line"; done
    echo "churn_ok=1 churn_services=$have"
  done

  # What kipvs programmed after every edit is the plan of the edited manifests.
  deno_in k1 "$KIPVS_ROOT/bench/ipvs_cli.ts" save | sort >"$KIPVS_OUT/k1.final"
  sort "$DATA/expected-final.rules" >"$KIPVS_OUT/expected-final"
  echo "same_final=$(same "$KIPVS_OUT/k1.final" "$KIPVS_OUT/expected-final")"

  ip netns exec k1 curl -s http://127.0.0.1:10249/metrics |
    grep -E '^(kubeproxy_network_programming_duration_seconds|kipvs_writes_total|kipvs_sync_last_writes)' |
    sed 's/^/@metric /'
  echo "rss_run_kb=$(hwm_kb "$KPID")"
  stop_kipvs
  sed 's/^/@log /' "$L/k1.log"

  # (d) a restart with nothing changed: the first sync adopts what is there; then (f) the
  # periodic full resync RESYNC_S after the first began, with nothing changed either.
  nap 1
  probe_start k1
  t0=$(ms)
  kipvs_in k1 "$L/k1-restart.log" "${RESYNC_S}s"
  wait_synced "$L/k1-restart.log" 1 900
  echo "@restart $t0 $(synced_lines "$L/k1-restart.log" 1)"
  echo "@restartread $t0 $(grep -m1 '"msg":"read manifests"' "$L/k1-restart.log")"
  echo "rss_restart_kb=$(hwm_kb "$KPID")"
  wait_synced "$L/k1-restart.log" 2 $((RESYNC_S + 900))
  probe_stop k1
  echo "@resync $t0 $(synced_lines "$L/k1-restart.log" 2)"
  stop_kipvs
  sed 's/^/@log /' "$L/k1-restart.log"
done
