import assert from "node:assert/strict";
import { FakeConntrack } from "../../src/dataplane/conntrack/conntrack.ts";
import { FakeIpset } from "../dataplane/ipset/fake.ts";
import { FakeIptables } from "../dataplane/iptables/fake.ts";
import { FakeIpvs } from "../dataplane/ipvs/fake.ts";
import { FakeDummyLink } from "../dataplane/link/fake.ts";
import { Logger } from "../../src/log.ts";
import { DEFAULT_CONFIG, type ProxyConfig } from "../../src/config/config.ts";
import { Daemon } from "../../src/agent/daemon.ts";
import { Proxier } from "../../src/reconcile/proxier.ts";
import type {
  ClusterSource,
  ClusterState,
  SourceChange,
  SourceHealth,
} from "../../src/source/source.ts";
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

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const t = Date.now();
  while (!ok()) {
    if (Date.now() - t > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("Daemon reads the node's interfaces for full syncs only, and logs each change's programming latency", async () => {
  const config: ProxyConfig = {
    ...DEFAULT_CONFIG,
    hostname: NODE.name,
    families: [4],
    minSyncPeriodMs: 0,
    syncPeriodMs: 60_000,
  };
  const lines: Record<string, unknown>[] = [];
  const logger = new Logger({ format: "json", sink: (l) => lines.push(JSON.parse(l)) });
  const proxier = new Proxier({
    config,
    logger,
    dataplane: {
      ipvs: new FakeIpvs(),
      link: new FakeDummyLink(),
      ipset: new FakeIpset(),
      iptables: new FakeIptables(),
      conntrack: new FakeConntrack(),
    },
  });
  const source = new FakeSource(web("10.244.2.2@node-b"));
  let reads = 0;
  const interfaces = () => {
    reads++;
    return [] as Deno.NetworkInterfaceInfo[];
  };
  const d = new Daemon({ config, source, proxier, logger, interfaces });
  const synced = () => lines.filter((l) => l.msg === "synced");
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
