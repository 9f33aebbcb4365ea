# Diagnostics of the nftables rules backend (tests/kernel/nftables_test.ts): dump, dump --diff,
# explain and cleanup on a node kipvs programmed with --rules-backend nftables. None of them is
# told the backend: they find kipvs's tables. Sourced after lib.sh.
. "$GUEST_DIR/e2e_lib.sh"

# The pods may be there already (after e2e_switch.sh in the same guest).
[ -e /run/netns/pod-a ] || e2e_cluster || exit 1
kipvs_once nft --manifests "$E2E_DATA/traffic" --rules-backend nftables
M=(--manifests "$E2E_DATA/traffic" --cluster-cidr 10.244.0.0/16,fd00:244::/64)

echo "=== elements"
"$DENO" run --allow-all --node-modules-dir=manual --cached-only "$GUEST_DIR/nft_elements.guest.ts"
echo "=== dump"; kipvs dump; echo "rc=$?"
echo "=== dump-json"; kipvs dump -o json
echo "=== diff-same"; kipvs dump --diff "${M[@]}"; echo "rc=$?"
# Drift: an element gone, a rule added by hand.
nft delete element ip kipvs cluster-ip '{ 10.96.0.11 . tcp . 80 }'
nft add rule ip kipvs services counter
echo "=== diff-drift"; kipvs dump --diff "${M[@]}"; echo "rc=$?"
kipvs_once repair --manifests "$E2E_DATA/traffic" --rules-backend nftables
echo "=== diff-repaired"; kipvs dump --diff "${M[@]}"; echo "rc=$?"
echo "=== explain-cluster"; kipvs explain tcp/10.96.0.10:80 --from 10.244.2.4 -o json "${M[@]}"
echo "=== explain-cluster-text"; kipvs explain tcp/10.96.0.10:80 --from 10.244.2.4 "${M[@]}"
echo "=== explain-lb-denied"; kipvs explain tcp/203.0.113.10:80 --from 192.168.100.20 -o json "${M[@]}"
echo "=== explain-vip-port"; kipvs explain tcp/10.96.0.10:9999 --from 192.168.100.10 -o json "${M[@]}"
G=(--localhost-nodeports --rules-backend nftables)
echo "=== guard-apply"; kipvs sysctl --apply "${G[@]}"; echo "rc=$?"
echo "=== guard-again"; kipvs sysctl --apply "${G[@]}"; echo "rc=$?"
echo "=== guard-check"; kipvs sysctl --check "${G[@]}"; echo "rc=$?"
echo "=== guard-table"; nft list table ip kipvs-localnet
echo "=== cleanup"; kipvs cleanup; echo "rc=$?"
echo "=== tables"; nft list tables
echo "=== cleanup-again"; kipvs cleanup; echo "rc=$?"
