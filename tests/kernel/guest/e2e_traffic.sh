# The traffic scenario (tests/kernel/e2e_traffic_test.ts): kipvs programs the node from
# tests/kernel/testdata/e2e/traffic, then real clients reach every kind of service. Sourced by
# the harness after lib.sh.
. "$GUEST_DIR/e2e_lib.sh"

set -e
e2e_cluster
# A process on the node listening on every address: kube-ipvs0's addresses must not expose it.
python3 "$GUEST_DIR/podserver.py" node 9999 >"$E2E_RUN/node-9999.log" 2>&1 &
set +e

kipvs_once first --manifests "$E2E_DATA/traffic"
kipvs_once rerun --manifests "$E2E_DATA/traffic"

echo "=== traffic"
probe web-tcp-node client tcp 10.96.0.10 80 --count 4
probe web-tcp-pod client_in pod-c tcp 10.96.0.10 80 --count 4
probe web-udp-node client udp 10.96.0.10 53 --count 4
probe web-udp-pod client_in pod-c udp 10.96.0.10 53 --count 4
probe web6-tcp-node client tcp fd00:96::10 80 --count 4
probe web6-tcp-pod client_in pod-c tcp fd00:96::10 80 --count 4
probe web6-udp-pod client_in pod-c udp fd00:96::10 53 --count 4
probe sticky-node client tcp 10.96.0.11 80 --count 6
probe sticky-pod client_in pod-c tcp 10.96.0.11 80 --count 6
probe hairpin client_in pod-a tcp 10.96.0.12 80 --count 2
probe nodeport-ext client_in ext-a tcp 192.168.100.1 30080 --count 4
probe external-ext client_in ext-a tcp 198.51.100.20 80 --count 4
probe lb-allowed client_in ext-a tcp 203.0.113.10 80 --count 4
probe lb-other client_in ext-b tcp 203.0.113.10 80 --timeout 1
probe lb-node client tcp 203.0.113.10 80 --timeout 1
probe local-nodeport client_in ext-a tcp 192.168.100.1 30082 --count 6
probe local-external client_in ext-a tcp 198.51.100.21 80 --count 6
probe local-cluster client tcp 10.96.0.16 80 --count 6
probe vip-other-port client_in ext-a tcp 10.96.0.10 9999 --timeout 1
probe node-other-port client_in ext-a tcp 192.168.100.1 9999 --timeout 1

echo "=== empty"
connect cluster-node - 10.96.0.17 80
connect cluster-pod pod-c 10.96.0.17 80
connect nodeport-ext ext-a 192.168.100.1 30083
# For scale: the same connect to a service that has endpoints.
connect served-pod pod-c 10.96.0.10 80

dump programmed
