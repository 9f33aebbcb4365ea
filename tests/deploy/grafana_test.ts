import assert from "node:assert/strict";
import {
  dashboard,
  dashboardMetrics,
  exposedNames,
  metricNames,
  panels,
  queries,
} from "./_grafana.ts";

// Which metrics kipvs exports is checked against a live /metrics scrape in
// tests/kernel/observe_test.ts; these tests check the dashboard's own form.

Deno.test("the Grafana dashboard is importable: a Prometheus datasource variable that every panel and query uses", async () => {
  const d = await dashboard();
  assert.equal(typeof d.uid, "string");
  assert.equal(typeof d.schemaVersion, "number");
  assert.equal(d.id, undefined, "an exported dashboard for import carries no id");
  const vars = d.templating.list;
  const ds = vars.find((v: { type: string }) => v.type === "datasource");
  assert.deepEqual([ds?.name, ds?.query], ["datasource", "prometheus"]);
  const ids = new Set<number>();
  for (const p of panels(d)) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} is unique`);
    ids.add(p.id);
    assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.h > 0, `panel ${p.id} has a place`);
    if (p.type === "row") continue;
    assert.deepEqual(p.datasource, { type: "prometheus", uid: "${datasource}" }, p.title);
    assert.ok(p.description, `panel ${p.title} says what it shows`);
    assert.ok(p.targets.length > 0, `panel ${p.title} queries something`);
    for (const t of p.targets) assert.equal(t.datasource.uid, "${datasource}", p.title);
  }
  for (const v of vars.filter((x: { type: string }) => x.type === "query")) {
    assert.equal(v.datasource.uid, "${datasource}", v.name);
  }
});

Deno.test("every query of the dashboard is valid PromQL and filters by the node variable", async () => {
  const d = await dashboard();
  for (const q of queries(d)) {
    if (q.where.startsWith("variable")) continue;
    assert.doesNotThrow(() => metricNames(q.expr), q.where);
    assert.ok(metricNames(q.expr).length > 0, `${q.where} selects a metric`);
    assert.match(q.expr, /\{instance=~"\$instance"\}/, q.where);
  }
});

Deno.test("the dashboard shows what operators look at: sync duration and rate, programming latency, pending changes, writes, failures, staleness", async () => {
  const names = [...dashboardMetrics(await dashboard()).keys()];
  for (
    const want of [
      "kubeproxy_sync_proxy_rules_duration_seconds_bucket",
      "kubeproxy_sync_full_proxy_rules_duration_seconds_count",
      "kubeproxy_network_programming_duration_seconds_bucket",
      "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
      "kipvs_sync_last_writes",
      "kipvs_sync_failures_total",
      "kipvs_source_last_contact_timestamp_seconds",
    ]
  ) assert.ok(names.includes(want), want);
});

Deno.test("metricNames() finds selectors (not functions, labels or keywords) and rejects invalid PromQL", () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.99, sum by (le, kind) (rate(a_bucket{instance=~"$instance"}[$__rate_interval])))' +
        " / on (instance) group_left b_total - time()",
    ),
    ["a_bucket", "b_total"],
  );
  assert.throws(() => metricNames("sum(rate(a[5m]) by (x"), /not valid PromQL/);
  assert.deepEqual(
    [...exposedNames('# HELP a x\n# TYPE a counter\na_total 3\nb_bucket{le="1"} 0\n')],
    ["a_total", "b_bucket"],
  );
});
