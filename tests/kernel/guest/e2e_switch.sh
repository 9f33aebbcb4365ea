# Switching rules backends on a live node (tests/kernel/nftables_test.ts): kipvs programs the
# traffic scenario with iptables, then with nftables, then with iptables again, while a TCP
# connection through a ClusterIP stays open and clients open new connections every 100 ms to a
# ClusterIP (from a pod), to a NodePort (from outside) and to a pod's own service (hairpin, which
# needs the masquerade rules). Sourced after lib.sh.
. "$GUEST_DIR/e2e_lib.sh"

set -e
e2e_cluster
set +e

# state NAME: KUBE-* ipsets and chains, and kipvs's nft tables, counted.
state() {
  echo "=== state $1"
  echo "ipsets $(ipset list -n | grep -c '^KUBE-')"
  echo "chains $( ("$IPTABLES"-save; "$IP6TABLES"-save) | grep -c '^:KUBE-')"
  echo "tables $(nft list tables | grep -c ' kipvs$')"
}

kipvs_once iptables --manifests "$E2E_DATA/traffic" --rules-backend iptables
state iptables

# One connection held open across both switches, and new connections all along.
ip netns exec pod-c python3 "$GUEST_DIR/client.py" hold 10.96.0.10 80 --seconds 45 \
  --interval 0.2 >"$E2E_RUN/hold.txt" 2>&1 &
HOLD=$!
(while [ ! -e "$E2E_RUN/stop" ]; do
  ip netns exec pod-c python3 "$GUEST_DIR/client.py" tcp 10.96.0.10 80 --timeout 1
  ip netns exec ext-a python3 "$GUEST_DIR/client.py" tcp 192.168.100.1 30080 --timeout 1
  # Hairpin: a pod to itself through its service works only with the loop-back masquerade.
  ip netns exec pod-a python3 "$GUEST_DIR/client.py" tcp 10.96.0.12 80 --timeout 1
  sleep 0.1
done) >"$E2E_RUN/probes.txt" 2>&1 &
PROBES=$!
sleep 2

kipvs_once to-nftables --manifests "$E2E_DATA/traffic" --rules-backend nftables
state nftables
# Where kipvs's base chains sit among the hooks, beside iptables-nft's own tables: filter chains
# are hooks of their own; nat chains run inside nf_nat's hook, by their priority.
echo "=== hooks"
nft list hooks ip | awk '/^\thook /{h=$2} /chain ip (kipvs|nat|filter) /{print h, $1, $4, $5}'
nft list chains ip | awk '/^table /{t=$3} /chain /{c=$2} /type nat hook/{p=$6; sub(";", "", p);
  print $4, p, t, c}'

sleep 2
kipvs_once nftables-rerun --manifests "$E2E_DATA/traffic" --rules-backend nftables
kipvs_once to-iptables --manifests "$E2E_DATA/traffic" --rules-backend iptables
state iptables-again
SWITCHED=$(now_ms)
sleep 2
touch "$E2E_RUN/stop"
wait $PROBES
echo "=== probes"
echo "total $(wc -l <"$E2E_RUN/probes.txt")"
echo "failed $(grep -c ERR "$E2E_RUN/probes.txt")"
grep ERR "$E2E_RUN/probes.txt" | sort | uniq -c | head -5
wait $HOLD
echo "=== hold"
cat "$E2E_RUN/hold.txt"
echo "after-switch-ms $(($(now_ms) - SWITCHED))"
