import assert from "node:assert/strict";
import { assertGuestOk, outputSections, runInGuest } from "./harness.ts";
import { cellEnv, CELLS, matrixTest, NFTABLES_CELL } from "./matrix.ts";

// The manifests live on the guest's tmpfs: hostfs delivers no file events inside the guest.
const SCRIPT = String.raw`
set -u
M=/run/kipvs/m
mkdir -p $M
web() { # web IP...: the web service with these endpoints, written atomically
  {
    echo "apiVersion: v1"
    echo "kind: Service"
    echo "metadata: {name: web, namespace: default}"
    echo "spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: 8080}]}"
    echo "---"
    echo "apiVersion: discovery.k8s.io/v1"
    echo "kind: EndpointSlice"
    echo "metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}"
    echo "addressType: IPv4"
    echo "ports: [{name: http, port: 8080, protocol: TCP}]"
    echo "endpoints:"
    for ip in "$@"; do echo "- {addresses: [$ip], nodeName: kipvs-node}"; done
  } >$M/web.tmp
  mv $M/web.tmp $M/web.yaml
}
rs() { ipvsadm -Sn | grep -c -- "-r $1:8080"; }
has_rs() { ipvsadm -Sn | grep -q -- "-r $1:8080 -m -w $2"; }
no_rs() { ! ipvsadm -Sn | grep -q -- "-r $1:8080"; }
has_vs() { ipvsadm -Sn | grep -q -- "-A -t 10.96.0.10:80"; }
synced() { grep -c '"msg":"synced"' "$1"; }
ARGS="--manifests $M --iptables-backend $KIPVS_BACKEND --rules-backend $KIPVS_RULES
  --log-format json --ipvs-sync-period 5s
  --ipvs-min-sync-period 1s --graceful-termination-check-period 1s"

pod_create pod-a 10.244.1.2; pod_create pod-b 10.244.1.3; pod_create pod-c 10.244.1.4
pod_serve pod-a 8080; pod_serve pod-b 8080; pod_serve pod-c 8080
web 10.244.1.2 10.244.1.3

kipvs_bg $KIPVS_OUT/k1.log run $ARGS
echo "=== start"; wait_for 30 has_vs
echo "=== traffic"; client tcp 10.96.0.10 80 --count 6 | sort | uniq -c | awk '{print $2}' | xargs
echo "=== healthz"; curl -s -w ' %{http_code}\n' http://127.0.0.1:10256/healthz
echo "=== livez"; curl -s -o /dev/null -w '%{http_code}\n' http://127.0.0.1:10256/livez

echo "=== edit"; web 10.244.1.2 10.244.1.3 10.244.1.4; wait_for 10 has_rs 10.244.1.4 1
echo "=== drift"; ipvsadm -C; wait_for 15 has_rs 10.244.1.4 1

echo "=== graceful"
client hold 10.96.0.10 80 --seconds 5 --interval 0.2 --rst >$KIPVS_OUT/hold.txt &
HOLD=$!
wait_for 5 test -s $KIPVS_OUT/hold.txt >/dev/null
HELD=$(head -1 $KIPVS_OUT/hold.txt)
HELD_IP=$(case $HELD in pod-a) echo 10.244.1.2;; pod-b) echo 10.244.1.3;; *) echo 10.244.1.4;; esac)
KEEP=$(for ip in 10.244.1.2 10.244.1.3 10.244.1.4; do [ $ip = $HELD_IP ] || echo $ip; done | xargs)
web $KEEP
echo "weight0 $(wait_for 10 has_rs $HELD_IP 0)"
echo "new $(client tcp 10.96.0.10 80 --count 6 | sort -u | xargs)"
wait $HOLD
echo "hold $(tail -1 $KIPVS_OUT/hold.txt) from $HELD"
echo "gone $(wait_for 30 no_rs $HELD_IP)"

echo "=== metrics"
curl -s http://127.0.0.1:10249/metrics | grep -E '^(kubeproxy_sync_proxy_rules_last_timestamp_seconds|kubeproxy_network_programming_duration_seconds_count|kubeproxy_sync_proxy_rules_endpoint_changes_total|kubeproxy_sync_proxy_rules_service_changes_total|kipvs_sync_last_writes|kubeproxy_sync_full_proxy_rules_duration_seconds_count|kubeproxy_sync_partial_proxy_rules_duration_seconds_count)[ {]'

echo "=== sigterm"
BEFORE=$(ipvsadm -Sn | md5sum)
T0=$(now_ms); kill -TERM $KIPVS_PID; wait $KIPVS_PID; echo "exit $? after $(($(now_ms) - T0)) ms"
[ "$(ipvsadm -Sn | md5sum)" = "$BEFORE" ] && echo "table unchanged"
echo "traffic $(client tcp 10.96.0.10 80 --count 4 | sort -u | xargs)"

echo "=== restart"
kipvs_bg $KIPVS_OUT/k2.log run $ARGS
wait_for 30 grep -q '"msg":"synced"' $KIPVS_OUT/k2.log >/dev/null
grep -m1 '"msg":"synced"' $KIPVS_OUT/k2.log | grep -o '"writes":[0-9]*'
kill -TERM $KIPVS_PID; wait $KIPVS_PID

echo "=== crash-weights"
K=$(echo $KEEP | cut -d' ' -f1)
ipvsadm -e -t 10.96.0.10:80 -r $K:8080 -m -w 0
kipvs_bg $KIPVS_OUT/k3.log run $ARGS
wait_for 30 has_rs $K 1
kill -TERM $KIPVS_PID; wait $KIPVS_PID
echo "=== logs"
cat $KIPVS_OUT/k1.log | grep -v '"level":"debug"' | tail -n 30
`;

matrixTest(
  "kipvs run keeps a node in step: edits, drift, draining, signals, restarts, healthz, metrics",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "daemon",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: SCRIPT,
      timeoutMs: 240_000,
    });
    assertGuestOk(r, "daemon scenario");
    const s = outputSections(r.stdout);
    const get = (k: string) =>
      s.get(k) ?? assert.fail(`no section ${k}:\n${r.stdout}\n${r.stderr}`);
    const ms = (text: string) => Number(/^(\d+)$/m.exec(text)?.[1] ?? NaN);
    const ctx = `\n--- stdout ---\n${r.stdout}`;

    assert.ok(ms(get("start")) >= 0, ctx);
    assert.equal(get("traffic"), "pod-a pod-b", ctx);
    assert.match(
      get("healthz"),
      /^\{"lastUpdated":"[^"]+","currentTime":"[^"]+","nodeEligible":true.*\} 200$/,
      ctx,
    );
    assert.equal(get("livez"), "200", ctx);

    // A manifest edit is programmed within the min sync period (1 s) plus the debounce and a sync.
    assert.ok(ms(get("edit")) < 3000, `edit took ${get("edit")} ms${ctx}`);
    // An outside ipvsadm -C is repaired by the next full resync (sync period 5 s).
    assert.ok(ms(get("drift")) < 8000, `drift repair took ${get("drift")} ms${ctx}`);

    const g = get("graceful");
    const held = /hold held \d+ from (pod-\w)/.exec(g)?.[1];
    assert.ok(held, `the held connection kept working:\n${g}${ctx}`);
    assert.match(g, /^weight0 \d+$/m, ctx);
    const newConns = /^new (.*)$/m.exec(g)?.[1] ?? "";
    assert.ok(!newConns.split(" ").includes(held), `new connections avoid ${held}: ${newConns}`);
    assert.equal(newConns.split(" ").length, 2, `new connections reach both others: ${newConns}`);
    assert.match(
      g,
      /^gone \d+$/m,
      `the drained real server is deleted after the connection closed${ctx}`,
    );

    const m = get("metrics");
    assert.match(m, /^kubeproxy_sync_proxy_rules_last_timestamp_seconds \d{10}/m, ctx);
    assert.match(m, /^kubeproxy_network_programming_duration_seconds_count [1-9]/m, ctx);
    assert.match(m, /^kubeproxy_sync_proxy_rules_endpoint_changes_total [1-9]/m, ctx);
    assert.match(m, /^kubeproxy_sync_partial_proxy_rules_duration_seconds_count [1-9]/m, ctx);
    assert.match(m, /^kipvs_sync_last_writes\{kind="netlink_ops"\} \d+/m, ctx);

    const t = get("sigterm");
    const exit = /exit (\d+) after (\d+) ms/.exec(t);
    assert.equal(exit?.[1], "0", ctx);
    assert.ok(Number(exit?.[2]) < 1000, `SIGTERM took ${exit?.[2]} ms`);
    assert.match(t, /^table unchanged$/m, ctx);
    assert.match(t, /^traffic pod-\w pod-\w$/m, ctx);

    assert.equal(get("restart"), '"writes":0', `a restart without changes writes nothing${ctx}`);
    assert.ok(ms(get("crash-weights")) >= 0, `a weight left at 0 by a crash is repaired${ctx}`);
  },
  { cells: [...CELLS, NFTABLES_CELL] },
);
