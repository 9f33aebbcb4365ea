// The daemon's health wiring as `kipvs run` builds it, without the kernel: KubeSource on the test
// API server, the Daemon and a Proxier over the in-memory dataplane, ProxyHealth with the
// source's health, and the healthz handler. The Node is changed through the API server.
import { fakeDataplane } from "../dataplane/fakes.ts";
import assert from "node:assert/strict";
import { FakeIpvs } from "../dataplane/ipvs/fake.ts";
import { validateObject } from "../../src/k8s/validate.ts";
import { healthzHandler } from "../../src/observe/http.ts";
import { Logger } from "../../src/log.ts";
import { type HealthBody, ProxyHealth } from "../../src/observe/proxyhealth.ts";
import { DEFAULT_CONFIG, type ProxyConfig } from "../../src/config/config.ts";
import { Daemon } from "../../src/agent/daemon.ts";
import { Proxier } from "../../src/reconcile/proxier.ts";
import { KubeClient } from "../../src/source/kube/client.ts";
import { KubeSource } from "../../src/source/kube/kube_source.ts";
import { TestApiServer } from "../support/apiserver.ts";
import { rawNode, rawService, rawSlice } from "../support/kube_objects.ts";
import { waitFor } from "../support/wait.ts";

const NODE = "node-1";

Deno.test("the daemon turns /healthz to 503 for a Node being deleted or tainted ToBeDeletedByClusterAutoscaler, and reports an unreachable API server", async () => {
  const s = await TestApiServer.start();
  s.apply("services", rawService("default", "web"));
  s.apply("endpointslices", rawSlice("default", "web-1", { service: "web" }));
  s.apply("nodes", rawNode(NODE));
  const log = new Logger({ sink: () => {} });
  const source = new KubeSource({
    client: new KubeClient({
      connection: {
        server: s.url,
        caCerts: [],
        insecureSkipTLSVerify: false,
        credentials: { kind: "none" },
        origin: "test",
      },
    }),
    nodeName: NODE,
    decode: (raw) => validateObject(raw),
    log,
    tuning: { backoff: { initialMs: 20, maxMs: 100 } },
  });
  const config: ProxyConfig = {
    ...DEFAULT_CONFIG,
    hostname: NODE,
    families: [4],
    syncPeriodMs: 60_000,
    minSyncPeriodMs: 0,
  };
  const ipvs = new FakeIpvs();
  const proxier = new Proxier({
    config,
    dataplane: fakeDataplane({ ipvs }),
    logger: log,
  });
  // As src/cli/run.ts wires them.
  const health = new ProxyHealth(2 * config.syncPeriodMs, { source: () => source.health() });
  const handle = healthzHandler(health);
  const get = async (path: string) => {
    const r = handle(new Request(`http://node${path}`));
    return { status: r.status, body: await r.json() as HealthBody };
  };
  const daemon = new Daemon({ config, source, proxier, logger: log, health, interfaces: () => [] });
  const node = (o: { taint?: boolean; deleting?: boolean } = {}) => {
    const n = rawNode(NODE, {
      taints: o.taint ? [{ key: "ToBeDeletedByClusterAutoscaler", effect: "NoSchedule" }] : [],
    });
    if (o.deleting) n.metadata.deletionTimestamp = "2025-01-01T00:00:00Z";
    s.apply("nodes", n);
  };
  const becomes = async (status: number, what: string) => {
    let last: { status: number; body: HealthBody } | undefined;
    const until = performance.now() + 5_000;
    while (performance.now() < until) {
      last = await get("/healthz");
      if (last.status === status) return last;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`/healthz never answered ${status} (${what}): ${JSON.stringify(last)}`);
  };
  try {
    await source.start();
    daemon.start();
    await waitFor("the first sync", () => daemon.lastReport !== undefined);
    assert.equal((await ipvs.readAll()).length, 1, "the service is programmed");
    let h = await becomes(200, "a healthy node");
    assert.equal(h.body.nodeEligible, true);
    assert.equal(h.body.source?.synced, true);
    assert.equal(h.body.source?.error, undefined);

    node({ taint: true });
    h = await becomes(503, "the autoscaler's taint");
    assert.equal(h.body.nodeEligible, false);
    assert.equal((await get("/livez")).status, 200, "/livez ignores the node's state");
    node();
    h = await becomes(200, "the taint removed");
    assert.equal(h.body.nodeEligible, true);
    node({ deleting: true });
    h = await becomes(503, "a deletionTimestamp");
    assert.equal(h.body.nodeEligible, false);
    node();
    await becomes(200, "the node back");

    await s.close();
    await waitFor("the source to notice", () => source.health().error !== undefined);
    await new Promise((r) => setTimeout(r, 300));
    h = await get("/healthz");
    assert.equal(h.status, 200, "an unreachable API server alone does not fail /healthz");
    assert.match(h.body.source?.error ?? "", /cannot reach the server/);
    assert.ok(h.body.source!.staleSeconds! >= 0.2, JSON.stringify(h.body.source));
    assert.equal((await ipvs.readAll()).length, 1, "the dataplane stays");
  } finally {
    await daemon.stop();
    await source.stop();
    await s.close().catch(() => {});
  }
});
