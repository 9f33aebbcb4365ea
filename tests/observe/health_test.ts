import assert from "node:assert/strict";
import { ProxyHealth, sourceStatus } from "../../src/observe/proxyhealth.ts";
import type { SourceHealth } from "../../src/source/source.ts";
import { healthzHandler, metricsHandler, parseBindAddress } from "../../src/observe/http.ts";
import { ServiceHealthServers } from "../../src/observe/servicehealth.ts";
import { ProxyMetrics } from "../../src/observe/metrics.ts";
import { Logger } from "../../src/log.ts";
import { KipvsError } from "../../src/errors.ts";

Deno.test("ProxyHealth turns unhealthy only when a queued change waits past the timeout", () => {
  const h = new ProxyHealth(60_000);
  assert.equal(h.healthz(0).status, 200);
  h.queued(1_000);
  h.queued(30_000); // the oldest pending change counts
  assert.equal(h.healthz(60_999).status, 200);
  assert.equal(h.healthz(61_000).status, 503);
  h.updated(62_000);
  assert.equal(h.healthz(500_000).status, 200, "nothing queued: healthy however old the sync");
  assert.deepEqual(h.healthz(62_000).body, {
    lastUpdated: new Date(62_000).toISOString(),
    currentTime: new Date(62_000).toISOString(),
    nodeEligible: true,
  });
});

Deno.test("ProxyHealth fails /healthz but not /livez while the node is not eligible", () => {
  const h = new ProxyHealth(60_000);
  h.setNodeEligible(false);
  assert.equal(h.healthz(0).status, 503);
  assert.equal(h.healthz(0).body.nodeEligible, false);
  assert.equal(h.livez(0).status, 200);
});

Deno.test("ProxyHealth reports the source's freshness on /healthz without changing kube-proxy's status", () => {
  let source: SourceHealth = { synced: true, lastContact: 10_000 };
  const h = new ProxyHealth(60_000, { source: () => source });
  assert.deepEqual(h.healthz(10_000).body.source, {
    synced: true,
    lastContact: new Date(10_000).toISOString(),
    staleSeconds: 0,
  });
  source = { synced: true, lastContact: 10_000, error: "services: cannot reach the server" };
  const stale = h.healthz(95_049);
  assert.equal(stale.status, 200, "an unreachable API server alone is not unhealthy");
  assert.deepEqual(stale.body.source, {
    synced: true,
    lastContact: new Date(10_000).toISOString(),
    staleSeconds: 85,
    error: "services: cannot reach the server",
  });
  assert.equal(h.livez(95_049).body.source, undefined, "/livez keeps kube-proxy's body");
  h.setNodeEligible(false);
  assert.equal(h.healthz(95_049).status, 503);
});

Deno.test("sourceStatus() leaves out lastContact and staleSeconds for a source never heard from", () => {
  assert.deepEqual(sourceStatus({ synced: false, lastContact: 0, error: "refused" }, 5_000), {
    synced: false,
    error: "refused",
  });
  assert.equal(sourceStatus({ synced: true, lastContact: 1_000 }, 1_234).staleSeconds, 0.2);
});

Deno.test("healthzHandler() serves /healthz and /livez as JSON and 404 elsewhere", async () => {
  const h = new ProxyHealth(1000);
  const handle = healthzHandler(h, () => 5000);
  const r = handle(new Request("http://x/healthz"));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.equal((await r.json()).nodeEligible, true);
  assert.equal(handle(new Request("http://x/livez")).status, 200);
  assert.equal(handle(new Request("http://x/other")).status, 404);
});

Deno.test("metricsHandler() exposes kube-proxy's metric names", async () => {
  const m = new ProxyMetrics();
  m.networkProgrammingDuration.observe(0.003);
  m.recordWrites({
    netlinkOps: 4,
    ipvsOps: 2,
    ipsetRestores: 1,
    ipsetEntries: 2,
    iptablesRestores: 0,
    processes: 1,
  });
  const text = await (await metricsHandler(m)(new Request("http://x/metrics"))).text();
  for (
    const name of [
      "kubeproxy_sync_proxy_rules_duration_seconds",
      "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
      "kubeproxy_network_programming_duration_seconds",
      "kubeproxy_sync_proxy_rules_endpoint_changes_total",
      "kubeproxy_sync_proxy_rules_service_changes_total",
      "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
      "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
      "process_resident_memory_bytes",
    ]
  ) assert.match(text, new RegExp(`^# TYPE ${name} `, "m"));
  assert.match(text, /^kubeproxy_network_programming_duration_seconds_bucket\{le="0\.002"\} 0$/m);
  assert.match(text, /^kubeproxy_network_programming_duration_seconds_bucket\{le="0\.005"\} 1$/m);
  assert.match(text, /^kipvs_sync_last_writes\{kind="netlink_ops"\} 4$/m);
  assert.match(text, /^kipvs_sync_last_writes\{kind="processes"\} 1$/m);
});

Deno.test("ProxyMetrics resolve network programming latency to the millisecond, and count operations per sync", async () => {
  const m = new ProxyMetrics();
  m.networkProgrammingDuration.observe(0.0031);
  m.networkProgrammingDuration.observe(0.0072);
  const writes = { ipvsOps: 2, ipsetRestores: 0, ipsetEntries: 0, iptablesRestores: 0 };
  m.recordWrites({ ...writes, netlinkOps: 4, processes: 0 });
  m.recordWrites({ ...writes, netlinkOps: 3, processes: 0 });
  const text = await m.text();
  const bucket = (le: string) =>
    Number(
      new RegExp(
        `^kubeproxy_network_programming_duration_seconds_bucket\\{le="${le}"\\} (\\d+)$`,
        "m",
      )
        .exec(text)?.[1],
    );
  assert.deepEqual(["0.003", "0.004", "0.007", "0.008"].map(bucket), [0, 1, 1, 2]);
  const ops = (le: string) =>
    Number(
      new RegExp(
        `^kipvs_sync_operations_bucket\\{le="${le}",kind="netlink_ops",mode="partial"\\} (\\d+)$`,
        "m",
      )
        .exec(text)?.[1],
    );
  assert.deepEqual(["2", "4"].map(ops), [0, 2]);
  assert.match(text, /^kipvs_sync_operations_count\{kind="processes",mode="partial"\} 2$/m);
});

Deno.test("ProxyMetrics exports the source's health when given it", async () => {
  const m = new ProxyMetrics({ source: () => ({ synced: true, lastContact: 1_700_000_000_500 }) });
  const text = await m.text();
  assert.match(text, /^kipvs_source_synced 1$/m);
  assert.match(text, /^kipvs_source_last_contact_timestamp_seconds 1700000000\.5$/m);
  assert.doesNotMatch(await new ProxyMetrics().text(), /kipvs_source_/);
});

Deno.test("parseBindAddress() reads IPv4, IPv6 and empty hosts and rejects junk", () => {
  assert.deepEqual(parseBindAddress("0.0.0.0:10256", "--x"), { hostname: "0.0.0.0", port: 10256 });
  assert.deepEqual(parseBindAddress("[::1]:10249", "--x"), { hostname: "::1", port: 10249 });
  assert.deepEqual(parseBindAddress(":9", "--x"), { hostname: "0.0.0.0", port: 9 });
  assert.throws(
    () => parseBindAddress("10256", "--healthz-bind-address"),
    (e: unknown) => e instanceof KipvsError && /--healthz-bind-address: "10256"/.test(e.message),
  );
});

Deno.test("ServiceHealthServers answers 200 with local endpoints and 503 without", async () => {
  const port = freePort();
  const s = new ServiceHealthServers({
    logger: new Logger({ sink: () => {} }),
    hostname: "127.0.0.1",
  });
  try {
    await s.sync([{ nodePort: port, namespace: "default", name: "web", localEndpoints: 2 }]);
    let r = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-load-balancing-endpoint-weight"), "2");
    assert.deepEqual(await r.json(), {
      service: { namespace: "default", name: "web" },
      localEndpoints: 2,
      serviceProxyHealthy: true,
    });
    await s.sync([{ nodePort: port, namespace: "default", name: "web", localEndpoints: 0 }]);
    r = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 503);
    await r.body?.cancel();
    await s.sync([]);
    assert.deepEqual(s.ports(), []);
    await assert.rejects(() => fetch(`http://127.0.0.1:${port}/`));
  } finally {
    await s.close();
  }
});

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
