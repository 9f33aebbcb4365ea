import assert from "node:assert/strict";
import { assertGuestOk, outputSections, runInGuest } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

// kipvs run configured by a KubeProxyConfiguration file, with a UDP service and an
// externalTrafficPolicy: Local load balancer service whose health check node port kipvs serves.
const SCRIPT = String.raw`
set -u
M=/run/kipvs/m
mkdir -p $M
cat >/run/kipvs/config.yaml <<'EOC'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
metricsBindAddress: 127.0.0.1:10250
ipvs:
  scheduler: wrr
  minSyncPeriod: 200ms
  syncPeriod: 30s
EOC
# dns IP...: a UDP service; lb NODE...: a Local load balancer service with pod-a on NODE.
dns() {
  { echo "apiVersion: v1"; echo "kind: Service"
    echo "metadata: {name: dns, namespace: default}"
    echo "spec: {clusterIP: 10.96.0.53, ports: [{name: dns, port: 53, targetPort: 5353, protocol: UDP}]}"
    echo "---"; echo "apiVersion: discovery.k8s.io/v1"; echo "kind: EndpointSlice"
    echo "metadata: {name: dns-1, namespace: default, labels: {kubernetes.io/service-name: dns}}"
    echo "addressType: IPv4"; echo "ports: [{name: dns, port: 5353, protocol: UDP}]"; echo "endpoints:"
    for ip in "$@"; do echo "- {addresses: [$ip], nodeName: kipvs-node}"; done
  } >$M/dns.tmp; mv $M/dns.tmp $M/dns.yaml
}
lb() {
  { echo "apiVersion: v1"; echo "kind: Service"
    echo "metadata: {name: lb, namespace: default}"
    echo "spec: {type: LoadBalancer, clusterIP: 10.96.0.80, externalTrafficPolicy: Local, healthCheckNodePort: 32000,"
    echo "  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}"
    echo "status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}"
    echo "---"; echo "apiVersion: discovery.k8s.io/v1"; echo "kind: EndpointSlice"
    echo "metadata: {name: lb-1, namespace: default, labels: {kubernetes.io/service-name: lb}}"
    echo "addressType: IPv4"; echo "ports: [{name: http, port: 8080, protocol: TCP}]"; echo "endpoints:"
    echo "- {addresses: [10.244.1.2], nodeName: $1}"
  } >$M/lb.tmp; mv $M/lb.tmp $M/lb.yaml
}
pod_create pod-a 10.244.1.2; pod_create pod-b 10.244.1.3
pod_serve pod-a 5353 8080; pod_serve pod-b 5353 8080
dns 10.244.1.2 10.244.1.3
lb kipvs-node
kipvs_bg $KIPVS_OUT/k.log run --config /run/kipvs/config.yaml --manifests $M --iptables-backend $KIPVS_BACKEND
wait_for 30 sh -c 'ipvsadm -Sn | grep -q 10.96.0.53' >/dev/null
# The metrics listener may come up after the first sync on a loaded machine.
wait_for 10 sh -c 'curl -s http://127.0.0.1:10250/metrics | grep -q "^kubeproxy_sync_proxy_rules_duration_seconds_count"' >/dev/null

echo "=== config"
ipvsadm -Sn | grep -- '-A -u 10.96.0.53:53'
curl -s http://127.0.0.1:10250/metrics | grep -c '^kubeproxy_sync_proxy_rules_duration_seconds_count'

echo "=== udp"
FIRST=$(client udp 10.96.0.53 53 --count 3 --sport 40000 | sort -u | xargs)
echo "before $FIRST"
XIP=$([ "$FIRST" = pod-a ] && echo 10.244.1.2 || echo 10.244.1.3)
KEEP=$([ "$FIRST" = pod-a ] && echo 10.244.1.3 || echo 10.244.1.2)
echo "flows-before $(conntrack -L -p udp --reply-src $XIP 2>/dev/null | grep -c 'sport=40000')"
dns $KEEP
wait_for 10 sh -c "! ipvsadm -Sn | grep -q $XIP:5353" >/dev/null
echo "flows-after $(conntrack -L -p udp --reply-src $XIP 2>/dev/null | grep -c 'sport=40000')"
echo "after $(client udp 10.96.0.53 53 --count 3 --sport 40000 --timeout 1 | sort -u | xargs)"

echo "=== healthcheck"
curl -s -w ' %{http_code}\n' http://192.168.100.1:32000/
lb other-node
wait_for 10 sh -c 'curl -s -o /dev/null -w "%{http_code}" http://192.168.100.1:32000/ | grep -q 503' >/dev/null
curl -s -w ' %{http_code}\n' http://192.168.100.1:32000/
kill -TERM $KIPVS_PID; wait $KIPVS_PID
echo "=== conntrack-backend"
grep -c 'stale UDP conntrack entries are deleted over netlink' $KIPVS_OUT/k.log
grep -c 'running the conntrack program instead' $KIPVS_OUT/k.log || true
`;

matrixTest(
  "kipvs run with --config: UDP flows to removed endpoints, health check node ports",
  async (_t, cell) => {
    const r = await runInGuest({
      name: "daemon-services",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: SCRIPT,
      timeoutMs: 180_000,
    });
    assertGuestOk(r, "daemon services scenario");
    const s = outputSections(r.stdout);
    const get = (k: string) =>
      s.get(k) ?? assert.fail(`no section ${k}:\n${r.stdout}\n${r.stderr}`);
    const ctx = `\n--- stdout ---\n${r.stdout}`;

    // The file's scheduler and metrics address were used.
    assert.equal(get("config"), "-A -u 10.96.0.53:53 -s wrr\n1", ctx);

    const u = get("udp");
    const before = /^before (pod-\w)$/m.exec(u)?.[1];
    assert.ok(before, `one flow, one backend: ${u}`);
    assert.match(u, /^flows-before [1-9]/m, ctx);
    assert.match(
      u,
      /^flows-after 0$/m,
      `conntrack entries toward the removed endpoint are gone${ctx}`,
    );
    const after = /^after (.*)$/m.exec(u)?.[1] ?? "";
    assert.ok(!after.includes(before), `the flow is not stuck on ${before}: ${after}`);
    assert.match(after, /pod-\w/, `the flow reaches the remaining endpoint: ${after}`);

    // Deleted over ctnetlink (built in on 6.12, loaded on demand on 6.1): no process.
    assert.equal(get("conntrack-backend"), "1\n0", ctx);

    const h = get("healthcheck").split("\n");
    assert.match(h[0] ?? "", /"localEndpoints":1.*"serviceProxyHealthy":true\} 200$/, ctx);
    assert.match(h[1] ?? "", /"localEndpoints":0.* 503$/, ctx);
  },
);
