import { fakeDataplane } from "../dataplane/fakes.ts";
import assert from "node:assert/strict";
import { FakeIpvs } from "../dataplane/ipvs/fake.ts";
import { Logger } from "../../src/log.ts";
import { DEFAULT_CONFIG, type ProxyConfig } from "../../src/config/config.ts";
import { Daemon, REPLAN_EVERY } from "../../src/agent/daemon.ts";
import { Proxier } from "../../src/reconcile/proxier.ts";
import { ProxyMetrics } from "../../src/observe/metrics.ts";
import { ProxyHealth } from "../../src/observe/proxyhealth.ts";
import type {
  ClusterSource,
  ClusterState,
  SourceChange,
  SourceHealth,
} from "../../src/source/source.ts";
import type { HealthCheckSpec } from "../../src/plan/desired.ts";
import { cluster, NODE, slice, svc } from "../plan/_fixtures.ts";

/** A source whose state and changes the test sets. */
class FakeSource implements ClusterSource {
  state: ClusterState;
  #listeners: ((c: SourceChange) => void)[] = [];
  constructor(state: ClusterState) {
    this.state = state;
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  snapshot(): ClusterState {
    return this.state;
  }
  onChange(listener: (c: SourceChange) => void): void {
    this.#listeners.push(listener);
  }
  health(): SourceHealth {
    return { synced: true, lastContact: Date.now() };
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  /** Replaces the state and announces a change of `services`, seen at `seenAt`. */
  change(state: ClusterState, services: string[], seenAt: number): void {
    this.state = state;
    for (const l of this.#listeners) {
      l({
        services: new Set(services),
        node: false,
        all: false,
        serviceChanges: 0,
        endpointChanges: 1,
        seenAt,
      });
    }
  }
}

const web = (...eps: string[]) =>
  cluster(
    svc({ name: "web", ips: ["10.96.0.10"] }),
    slice({ service: "web", name: "web-1", endpoints: eps }),
  );

/** A config on NODE for daemon tests, a JSON logger whose lines the test reads, and a Proxier. */
function parts(syncPeriodMs: number, dataplane = fakeDataplane()) {
  const config: ProxyConfig = {
    ...DEFAULT_CONFIG,
    hostname: NODE.name,
    families: [4],
    minSyncPeriodMs: 0,
    syncPeriodMs,
  };
  const lines: Record<string, unknown>[] = [];
  const logger = new Logger({ format: "json", sink: (l) => lines.push(JSON.parse(l)) });
  const proxier = new Proxier({ config, logger, dataplane });
  const synced = () => lines.filter((l) => l.msg === "synced");
  return { config, lines, logger, proxier, synced };
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const t = Date.now();
  while (!ok()) {
    if (Date.now() - t > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("Daemon reads the node's interfaces for full syncs only, and logs each change's programming latency", async () => {
  const { config, logger, proxier, synced } = parts(60_000);
  const source = new FakeSource(web("10.244.2.2@node-b"));
  let reads = 0;
  const interfaces = () => {
    reads++;
    return [] as Deno.NetworkInterfaceInfo[];
  };
  const d = new Daemon({ config, source, proxier, logger, interfaces });
  d.start();
  try {
    await until("the first sync", () => synced().length === 1);
    assert.equal(synced()[0]!.full, true);
    assert.equal(synced()[0]!.latencyMs, undefined, "no change: no latency");
    const seenAt = Date.now() - 40;
    source.change(web("10.244.2.2@node-b", "10.244.2.3@node-b"), ["default/web"], seenAt);
    await until("the incremental sync", () => synced().length === 2);
    const s = synced()[1]!;
    assert.deepEqual([s.full, s.ipvsOps, s.processes], [false, 1, 0]);
    assert.ok(typeof s.latencyMs === "number" && s.latencyMs >= 40, JSON.stringify(s));
    assert.equal(reads, 1, "the incremental sync reused the node's addresses");
  } finally {
    await d.stop();
  }
});

Deno.test("Daemon warns of drift once per sync, counts it by kind, shows it on /healthz and names another writer when it repeats", async () => {
  const ipvs = new FakeIpvs();
  const { config, lines, logger, proxier } = parts(30, fakeDataplane({ ipvs }));
  const metrics = new ProxyMetrics();
  const health = new ProxyHealth(60_000);
  let asked = 0;
  const d = new Daemon({
    config,
    source: new FakeSource(web("10.244.2.2@node-b")),
    proxier,
    logger,
    metrics,
    health,
    interfaces: () => [],
    otherWriters: () => Promise.resolve(`kube-proxy (asked ${++asked})`),
  });
  const warnings = () => lines.filter((l) => l.level === "warn");
  const key = { family: 4, protocol: "TCP", address: "10.96.0.10", port: 80 } as const;
  d.start();
  try {
    await until("two full syncs", () => lines.filter((l) => l.msg === "synced").length >= 2);
    assert.deepEqual(warnings(), [], "no drift while nobody else writes");
    await ipvs.apply([{ op: "delete-service", key }]);
    await until("a drift warning", () => warnings().length === 1);
    assert.deepEqual(warnings()[0], {
      ...warnings()[0],
      msg: "drift repaired: someone else changed what kipvs programs",
      repaired: "virtual server TCP/10.96.0.10:80 deleted by someone else; " +
        "TCP/10.96.0.10:80: real server 10.244.2.2:8080 missing",
      kinds: "ipvs=1 realserver=1",
    });
    assert.match(await metrics.text(), /^kipvs_drift_repairs_total\{kind="ipvs"\} 1$/m);
    assert.match(await metrics.text(), /^kipvs_drift_repairs_total\{kind="rule"\} 0$/m);
    assert.deepEqual(health.healthz(Date.now()).body.drift?.repairs, { ipvs: 1, realserver: 1 });
    assert.equal(asked, 0, "one drift is no fight");
    // Someone deletes it again after every sync: a fight.
    const fight = setInterval(() => ipvs.apply([{ op: "delete-service", key }]), 10);
    try {
      await until("repeated drift", () => warnings().some((w) => w.syncsInARow === 3));
    } finally {
      clearInterval(fight);
    }
    const w = warnings().find((w) => w.syncsInARow === 3)!;
    assert.equal(w.msg, "drift repaired again, 3 syncs in a row: another writer?");
    assert.match(String(w.writer), /^kube-proxy \(asked \d+\)$/);
    assert.equal(health.healthz(Date.now()).body.drift?.last.writer, w.writer);
    assert.equal(health.healthz(Date.now()).status, 200, "drift does not fail /healthz");
  } finally {
    await d.stop();
  }
});

Deno.test("Daemon gives serviceHealth the health checks after a sync that changed them, not after every sync", async () => {
  const { config, lines, logger, proxier } = parts(60_000);
  const state = (lbEndpoints: string[], webEndpoints: string[]) =>
    cluster(
      svc({
        name: "lb",
        type: "LoadBalancer",
        ips: ["10.96.0.20"],
        etp: "Local",
        hcnp: 32000,
        ingress: [{ ip: "172.20.0.1" }],
      }),
      slice({ service: "lb", name: "lb-1", endpoints: lbEndpoints }),
      svc({ name: "web", ips: ["10.96.0.10"] }),
      slice({ service: "web", name: "web-1", endpoints: webEndpoints }),
    );
  const sent: string[] = [];
  const serviceHealth = {
    sync: (specs: readonly HealthCheckSpec[]) => {
      sent.push(specs.map((s) => `${s.name} ${s.nodePort} local=${s.localEndpoints}`).join());
      return Promise.resolve();
    },
  };
  const source = new FakeSource(state([`10.244.1.1@${NODE.name}`], ["10.244.2.2@node-b"]));
  const d = new Daemon({ config, source, proxier, logger, serviceHealth, interfaces: () => [] });
  const synced = () => lines.filter((l) => l.msg === "synced").length;
  const change = async (s: ClusterState, service: string, n: number) => {
    source.change(s, [`default/${service}`], Date.now());
    await until(`sync ${n}`, () => synced() === n);
  };
  d.start();
  try {
    await until("the first sync", () => synced() === 1);
    assert.deepEqual(sent, ["lb 32000 local=1"]);
    await change(state([`10.244.1.1@${NODE.name}`], ["10.244.2.3@node-b"]), "web", 2);
    assert.deepEqual(sent, ["lb 32000 local=1"], "web has no health check: nothing to send");
    const two = [`10.244.1.1@${NODE.name}`, `10.244.1.2@${NODE.name}`];
    await change(state(two, ["10.244.2.3@node-b"]), "lb", 3);
    assert.deepEqual(sent, ["lb 32000 local=1", "lb 32000 local=2"]);
    await change(state([...two, "10.244.2.9@node-b"], ["10.244.2.3@node-b"]), "lb", 4);
    assert.equal(sent.length, 2, "a remote endpoint leaves the local count as it was");
  } finally {
    await d.stop();
  }
});

Deno.test("Daemon's periodic resyncs keep the plan of unchanged services, and every REPLAN_EVERYth plans them all", async () => {
  const { config, logger, proxier, synced } = parts(20);
  const source = new FakeSource(web("10.244.2.2@node-b"));
  let sends = 0;
  const serviceHealth = { sync: () => (sends++, Promise.resolve()) };
  const d = new Daemon({ config, source, proxier, logger, serviceHealth, interfaces: () => [] });
  d.start();
  try {
    await until("the first sync and 11 resyncs", () => synced().length >= REPLAN_EVERY + 2);
  } finally {
    await d.stop();
  }
  const planned = synced().slice(0, REPLAN_EVERY + 2).map((l) => [l.full, l.services]);
  const all = [true, 1];
  const kept = [true, 0];
  // The first sync plans all; resyncs 1-9 keep the plan; the 10th plans all; the 11th keeps.
  assert.deepEqual(planned, [all, ...Array(REPLAN_EVERY - 1).fill(kept), all, kept]);
  assert.ok(sends >= REPLAN_EVERY + 2, "health checks are given after every full sync");
});
