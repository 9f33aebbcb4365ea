/**
 * Drift repaired and reported in a real kernel: kipvs run on a node where someone else deletes
 * a virtual server (`ipvsadm -D`), a real server (`ipvsadm -d`), a set's members (`ipset
 * flush`) and a rule (`iptables -D`); each gives one warning naming it and the metric of its
 * kind, within one sync period. Then a second kipvs, run under the name kube-proxy on
 * kube-proxy's ports with other manifests, fights over the node: the first reports repeated
 * drift and names kube-proxy. A manifest of an unknown kind is named in an info line.
 */
import assert from "node:assert/strict";
import { assertGuestOk, outputSections, runInGuest } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

const SCRIPT = String.raw`
set -u
M=/run/kipvs/m; K=/run/kipvs/kp
mkdir -p $M $K
svc() { # NAME IP: a service with the two pods behind it
  echo "apiVersion: v1"
  echo "kind: Service"
  echo "metadata: {name: $1, namespace: default}"
  echo "spec: {clusterIP: $2, ports: [{name: http, port: 80, targetPort: 8080}]}"
  echo "---"
  echo "apiVersion: discovery.k8s.io/v1"
  echo "kind: EndpointSlice"
  echo "metadata: {name: $1-1, namespace: default, labels: {kubernetes.io/service-name: $1}}"
  echo "addressType: IPv4"
  echo "ports: [{name: http, port: 8080, protocol: TCP}]"
  echo "endpoints: [{addresses: [10.244.1.2]}, {addresses: [10.244.1.3]}]"
}
svc web 10.96.0.10 >$M/web.yaml
svc api 10.96.0.11 >$M/api.yaml
printf 'apiVersion: v1\nkind: Servise\nmetadata: {name: typo}\n' >$M/typo.yaml
svc other 10.96.0.99 >$K/other.yaml
pod_create pod-a 10.244.1.2; pod_create pod-b 10.244.1.3
pod_serve pod-a 8080; pod_serve pod-b 8080

has_vs() { ipvsadm -Sn | grep -q -- "-A -t $1:80"; }
warned() { grep '"msg":"drift repaired' "$1" | grep -q -- "$2"; }
drifts() { grep -c '"msg":"drift repaired' "$1"; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | grep "^kipvs_drift_repairs_total{kind=\"$2\"}"; }
# repair NAME PATTERN CMD...: run CMD behind kipvs's back; how long until a warning matches.
repair() {
  name=$1 pattern=$2; shift 2
  n=$(drifts $KIPVS_OUT/k1.log)
  "$@"
  echo "=== $name"
  wait_for 15 warned $KIPVS_OUT/k1.log "$pattern"
  echo "warnings $(($(drifts $KIPVS_OUT/k1.log) - n))"
}
ARGS="--manifests $M --iptables-backend $KIPVS_BACKEND --log-format json --ipvs-sync-period 3s
  --ipvs-min-sync-period 1s"

kipvs_bg $KIPVS_OUT/k1.log run $ARGS
wait_for 30 has_vs 10.96.0.10 >/dev/null
# The next full sync has one to compare with.
wait_for 15 test "$(grep -c '"msg":"synced"' $KIPVS_OUT/k1.log)" -ge 2 >/dev/null
echo "=== unknown kind"; grep '"msg":"manifest input ignored"' $KIPVS_OUT/k1.log
echo "=== read line"; grep '"msg":"read manifests"' $KIPVS_OUT/k1.log

repair vs 'virtual server TCP/10.96.0.10:80 deleted by someone else' ipvsadm -D -t 10.96.0.10:80
repair rs 'TCP/10.96.0.11:80: real server 10.244.1.2:8080 missing' \
  ipvsadm -d -t 10.96.0.11:80 -r 10.244.1.2:8080
repair ipset 'KUBE-CLUSTER-IP: 2 entries missing' ipset flush KUBE-CLUSTER-IP
repair rule 'chain 4/nat/KUBE-SERVICES changed' $IPTABLES -t nat -D KUBE-SERVICES 2
echo "=== traffic"; client tcp 10.96.0.10 80 --count 4 | sort -u | xargs
echo "=== metrics"
for k in ipvs realserver ipset rule address; do metric 10249 $k; done
echo "=== healthz"; curl -s http://127.0.0.1:10256/healthz; echo
echo "=== dump"; kipvs dump | sed -n '/^kipvs run/,$p'
kill -TERM $KIPVS_PID; wait $KIPVS_PID

echo "=== fight"
# kipvs again on other ports; a second kipvs plays kube-proxy: its name, its ports, its
# own view of the cluster (other.yaml only). Each deletes what the other wants.
kipvs_bg $KIPVS_OUT/k2.log run $ARGS --healthz-bind-address 0.0.0.0:10266 \
  --metrics-bind-address 127.0.0.1:10259
MINE=$KIPVS_PID
wait_for 30 grep -q '"msg":"synced"' $KIPVS_OUT/k2.log >/dev/null
ln -sf "$DENO" $K/kube-proxy
# shellcheck disable=SC2046
(exec $K/kube-proxy run --node-modules-dir=manual --cached-only \
  $(grep -v '^#' "$KIPVS_ROOT/scripts/permissions") "$KIPVS_ROOT/main.ts" run --manifests $K \
  --iptables-backend $KIPVS_BACKEND --log-format json --ipvs-sync-period 2s \
  --ipvs-min-sync-period 1s \
  ) >$KIPVS_OUT/kp.log 2>&1 &
KP=$!
echo "pgrep $(wait_for 10 pgrep -x kube-proxy)"
wait_for 60 grep -q '"msg":"drift repaired again' $KIPVS_OUT/k2.log
grep '"msg":"drift repaired again' $KIPVS_OUT/k2.log | tail -1
kill -TERM $KP $MINE; wait $KP $MINE
`;

matrixTest(
  "drift: outside ipvsadm, ipset and iptables each give a warning and the metric; a second writer is named",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "drift",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: SCRIPT,
      timeoutMs: 300_000,
    });
    assertGuestOk(r, "drift scenario");
    const s = outputSections(r.stdout);
    const ctx = `\n--- stdout ---\n${r.stdout}`;
    const get = (k: string) => s.get(k) ?? assert.fail(`no section ${k}${ctx}`);
    const json = (line: string) => JSON.parse(line) as Record<string, unknown>;

    // A manifest of an unknown kind is named at info, and counted in the read line.
    const unknown = json(get("unknown kind"));
    assert.equal(unknown.level, "info", ctx);
    assert.match(String(unknown.file), /\/typo\.yaml$/);
    assert.equal(unknown.reason, "kind Servise is not read by kipvs");
    assert.equal(json(get("read line")).ignored, 1, ctx);

    // Each outside change: one warning naming it, from the first full sync that starts after it:
    // within one sync period (3 s; full syncs start a period apart) and that sync's own time
    // (1-2 s in the test VM under load).
    for (const name of ["vs", "rs", "ipset", "rule"]) {
      const [ms, warnings] = get(name).split("\n");
      assert.ok(Number(ms) <= 3000 + 2500, `${name}: the warning took ${ms} ms${ctx}`);
      assert.equal(warnings, "warnings 1", `${name}: one warning${ctx}`);
    }
    assert.equal(get("traffic"), "pod-a pod-b", ctx);
    const metrics = get("metrics");
    for (const kind of ["ipvs", "realserver", "ipset", "rule"]) {
      const n = Number(new RegExp(`\\{kind="${kind}"\\} (\\d+)`).exec(metrics)?.[1]);
      assert.ok(n >= 1, `kipvs_drift_repairs_total{kind="${kind}"} = ${n}${ctx}`);
    }
    assert.match(metrics, /\{kind="address"\} 0$/m, "nothing else counted");

    const health = JSON.parse(get("healthz"));
    assert.ok(health.drift.repairs.ipvs >= 1, ctx);
    assert.deepEqual(health.drift.last.objects, ["chain 4/nat/KUBE-SERVICES changed"]);
    assert.match(
      get("dump"),
      /^kipvs run \(127\.0\.0\.1:10256\): drift repaired since it started: /m,
    );
    assert.match(get("dump"), /^ {4}chain 4\/nat\/KUBE-SERVICES changed$/m);

    const fight = get("fight").split("\n");
    assert.match(fight[0]!, /^pgrep \d+$/, `the process is named kube-proxy${ctx}`);
    const again = json(fight.at(-1)!);
    assert.match(String(again.msg), /^drift repaired again, \d+ syncs in a row: another writer\?$/);
    assert.ok(Number(again.syncsInARow) >= 2, ctx);
    assert.match(
      String(again.writer),
      /^kube-proxy \(its process is running \(pid \d+\); port 10256 answers \/healthz\)$/,
    );
    assert.match(
      String(again.repaired),
      /virtual server TCP\/10\.96\.0\.99:80 added by someone else/,
    );
  },
);
