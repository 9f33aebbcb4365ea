import assert from "node:assert/strict";
import type { Node } from "../../../src/k8s/types.ts";
import { Logger } from "../../../src/log.ts";
import { KubeClient } from "../../../src/source/kube/client.ts";
import type { ObjectDecoder } from "../../../src/source/kube/decode.ts";
import { KubeSource } from "../../../src/source/kube/kube_source.ts";
import { nodeLeavingReason, nodeZone } from "../../../src/k8s/node.ts";
import type { SourceChange } from "../../../src/source/source.ts";
import { TestApiServer } from "../../support/apiserver.ts";
import { rawNode, rawService, rawSlice, testDecoder } from "../../support/kube_objects.ts";
import { delay, waitFor } from "../../support/wait.ts";

interface Rig {
  s: TestApiServer;
  source: KubeSource;
  changes: SourceChange[];
  logs: string[];
  /** Waits for the next change not returned yet and returns it. */
  next(): Promise<SourceChange>;
}

async function rig(
  o: { seed?: (s: TestApiServer) => void; decode?: ObjectDecoder; now?: () => number },
  fn: (r: Rig) => Promise<void>,
): Promise<void> {
  const s = await TestApiServer.start();
  o.seed?.(s);
  const logs: string[] = [];
  const source = new KubeSource({
    client: new KubeClient({
      connection: {
        server: s.url,
        caCerts: [],
        insecureSkipTLSVerify: false,
        credentials: { kind: "none" },
        origin: "t",
      },
    }),
    nodeName: "node-1",
    decode: o.decode ?? testDecoder,
    log: new Logger({ level: "debug", sink: (l) => logs.push(l) }),
    tuning: { backoff: { initialMs: 20, maxMs: 100 } },
    now: o.now,
  });
  const changes: SourceChange[] = [];
  source.onChange((c) => changes.push(c));
  let cursor = 0;
  const next = async () => {
    await waitFor("a change", () => changes.length > cursor);
    return changes[cursor++]!;
  };
  try {
    await fn({ s, source, changes, logs, next });
  } finally {
    await source.stop();
    await s.close();
  }
}

const cluster = (s: TestApiServer) => {
  s.apply("services", rawService("default", "web"));
  s.apply("services", rawService("kube-system", "dns", { clusterIP: "10.96.0.10", port: 53 }));
  s.apply(
    "services",
    rawService("default", "headless", { labels: { "service.kubernetes.io/headless": "" } }),
  );
  s.apply(
    "endpointslices",
    rawSlice("default", "web-abc", { service: "web", addresses: ["10.244.0.5"] }),
  );
  s.apply("endpointslices", rawSlice("kube-system", "dns-1", { service: "dns" }));
  s.apply("nodes", rawNode("node-1", { zone: "zone-a" }));
  s.apply("nodes", rawNode("node-2", { zone: "zone-b" }));
};

Deno.test("KubeSource.start() resolves with the whole view, keyed by namespace/name, and announces nothing", async () => {
  await rig({ seed: cluster }, async ({ s, source, changes }) => {
    await source.start();
    const v = source.snapshot();
    assert.deepEqual([...v.services.keys()].sort(), ["default/web", "kube-system/dns"]);
    assert.deepEqual([...v.endpointSlices.keys()].sort(), ["default/web-abc", "kube-system/dns-1"]);
    assert.equal(v.services.get("default/web")!.kind, "Service");
    assert.equal(v.node?.metadata.name, "node-1");
    assert.equal(nodeZone(v.node), "zone-a");
    assert.equal(source.health().synced, true);
    await delay(20);
    assert.deepEqual(changes, []);
    const nodeList = s.requestsOf("list", "nodes")[0]!;
    assert.equal(nodeList.query.fieldSelector, "metadata.name=node-1");
    assert.equal(
      s.requestsOf("list", "endpointslices")[0]!.query.labelSelector,
      "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless",
    );
  });
});

Deno.test("KubeSource.start() waits until every initial list is complete, whatever fails on the way", async () => {
  await rig({ seed: cluster }, async ({ s, source, changes }) => {
    s.inject({
      kind: "status",
      code: 500,
      times: 3,
      match: { verb: "list", resource: "endpointslices" },
    });
    let started = false;
    const p = source.start().then(() => (started = true));
    await waitFor("services listed", () => source.snapshot().services.size === 2);
    assert.equal(started, false, "services alone are half a cluster");
    assert.equal(source.health().synced, false);
    assert.match(source.health().error ?? "", /endpointslices: .*500/);
    s.apply("services", rawService("default", "early"));
    await p;
    assert.equal(source.snapshot().endpointSlices.size, 2);
    assert.ok(source.snapshot().services.has("default/early"));
    await delay(20);
    assert.deepEqual(
      changes,
      [],
      "what happened before start() resolved is in the snapshot, not announced",
    );
  });
});

Deno.test("KubeSource.start() rejects when the source is stopped before the initial lists completed", async () => {
  await rig({ seed: cluster }, async ({ s, source }) => {
    s.inject({ kind: "status", code: 503, times: 1000, match: { resource: "nodes" } });
    const started = source.start().then(() => "resolved", (e) => e);
    await waitFor("a failing node list", () => s.requestsOf("list", "nodes").length > 0);
    await source.stop();
    const err = await started;
    assert.equal(err.code, "kube-api");
    assert.match(err.message, /stopped before the initial lists completed/);
  });
});

Deno.test("KubeSource announces a Service change with exactly that service", async () => {
  await rig({ seed: cluster }, async ({ s, source, next }) => {
    await source.start();
    const at = Date.now();
    s.apply("services", rawService("default", "web", { port: 8080 }));
    const c = await next();
    assert.deepEqual([...c.services], ["default/web"]);
    assert.equal(c.all, false);
    assert.equal(c.node, false);
    assert.equal(c.serviceChanges, 1);
    assert.equal(c.endpointChanges, 0);
    assert.ok(c.seenAt >= at);
    assert.equal(source.snapshot().services.get("default/web")!.spec.ports[0]!.port, 8080);
  });
});

Deno.test("KubeSource maps an EndpointSlice change to its service, and a relabelled slice to both", async () => {
  await rig({ seed: cluster }, async ({ s, source, next }) => {
    await source.start();
    s.apply(
      "endpointslices",
      rawSlice("default", "web-abc", { service: "web", addresses: ["10.244.0.6"] }),
    );
    const c1 = await next();
    assert.deepEqual([...c1.services], ["default/web"]);
    assert.equal(c1.endpointChanges, 1);
    assert.equal(c1.serviceChanges, 0);
    s.apply("endpointslices", rawSlice("default", "web-abc", { service: "api" }));
    const c2 = await next();
    assert.deepEqual([...c2.services].sort(), ["default/api", "default/web"]);
    const index = () => source.snapshot().endpointSlicesByService;
    assert.deepEqual([...index()?.get("default/api")?.keys() ?? []], ["default/web-abc"]);
    assert.equal(index()?.get("default/web")?.has("default/web-abc") ?? false, false);
    s.delete("endpointslices", "default", "web-abc");
    assert.deepEqual([...(await next()).services], ["default/api"]);
    assert.equal(source.snapshot().endpointSlices.has("default/web-abc"), false);
    assert.equal(index()?.has("default/api"), false, "the slice left the index too");
  });
});

Deno.test("KubeSource announces the differences a relist found as one change", async () => {
  await rig({ seed: cluster }, async ({ s, source, changes }) => {
    await source.start();
    await waitFor("three watches", () => s.openWatches === 3);
    s.dropWatches();
    for (let i = 0; i < 5; i++) s.apply("services", rawService("default", `s${i}`));
    s.delete("services", "kube-system", "dns");
    s.compact();
    await waitFor(
      "three relists",
      () => Object.values(source.stats()).every((st) => st.lists === 2),
    );
    await delay(20);
    assert.equal(changes.length, 1, "one change; the slices' and node's relists found nothing new");
    assert.deepEqual([...changes[0]!.services].sort(), [
      "default/s0",
      "default/s1",
      "default/s2",
      "default/s3",
      "default/s4",
      "kube-system/dns",
    ]);
    assert.equal(changes[0]!.serviceChanges, 6);
  });
});

Deno.test("KubeSource drops a service whose label hands it to another proxy", async () => {
  await rig({ seed: cluster }, async ({ s, source, next }) => {
    await source.start();
    s.apply(
      "services",
      rawService("default", "web", {
        labels: { "service.kubernetes.io/service-proxy-name": "other" },
      }),
    );
    const c = await next();
    assert.deepEqual([...c.services], ["default/web"]);
    assert.equal(source.snapshot().services.has("default/web"), false);
  });
});

Deno.test("KubeSource follows its own Node: zone changes, taints, deletion; other nodes are not read", async () => {
  await rig({ seed: cluster }, async ({ s, source, next, changes }) => {
    await source.start();
    s.apply("nodes", rawNode("node-2", { zone: "zone-c" }));
    s.apply("nodes", rawNode("node-1", { zone: "zone-b" }));
    const c = await next();
    assert.equal(c.node, true);
    assert.deepEqual([...c.services], []);
    assert.equal(nodeZone(source.snapshot().node), "zone-b");
    assert.equal(nodeLeavingReason(source.snapshot().node), undefined);
    s.apply(
      "nodes",
      rawNode("node-1", {
        taints: [{ key: "ToBeDeletedByClusterAutoscaler", effect: "NoSchedule" }],
      }),
    );
    await next();
    assert.match(
      nodeLeavingReason(source.snapshot().node) ?? "",
      /tainted ToBeDeletedByClusterAutoscaler/,
    );
    s.delete("nodes", undefined, "node-1");
    assert.equal((await next()).node, true);
    assert.equal(source.snapshot().node, undefined);
    assert.equal(changes.length, 3, "node-2 never caused a change");
  });
});

Deno.test("KubeSource skips and logs invalid objects, and drops an object that becomes invalid", async () => {
  await rig({ seed: cluster }, async ({ s, source, next, logs }) => {
    s.apply("services", rawService("default", "bad", { labels: { "test/invalid": "" } }));
    s.apply("endpointslices", {
      ...rawSlice("default", "names", { service: "web" }),
      addressType: "FQDN",
    });
    await source.start();
    assert.equal(source.snapshot().services.has("default/bad"), false);
    assert.equal(source.snapshot().endpointSlices.has("default/names"), false);
    assert.ok(
      logs.some((l) =>
        /WARN .*skipping invalid Service default\/bad.*labelled test\/invalid/.test(l)
      ),
    );
    assert.ok(logs.some((l) => /DEBUG .*ignoring EndpointSlice default\/names/.test(l)));
    s.apply("services", rawService("default", "web", { labels: { "test/invalid": "" } }));
    assert.deepEqual([...(await next()).services], ["default/web"]);
    assert.equal(source.snapshot().services.has("default/web"), false);
    assert.equal(source.snapshot().services.size, 1);
  });
});

Deno.test("KubeSource survives a validator that throws", async () => {
  const decode: ObjectDecoder = (raw) => {
    if ((raw as { metadata: { name: string } }).metadata.name === "boom") {
      throw new Error("validator bug");
    }
    return testDecoder(raw);
  };
  await rig({ seed: cluster, decode }, async ({ s, source, logs }) => {
    s.apply("services", rawService("default", "boom"));
    await source.start();
    assert.equal(source.snapshot().services.size, 2);
    assert.ok(logs.some((l) => /skipping Service default\/boom: the validator failed/.test(l)));
  });
});

Deno.test("KubeSource announces exactly what a relist changed after its watch fell out of history", async () => {
  await rig({ seed: cluster }, async ({ s, source, next }) => {
    await source.start();
    await waitFor("three watches", () => s.openWatches === 3);
    s.dropWatches();
    s.delete("services", "kube-system", "dns");
    s.apply(
      "endpointslices",
      rawSlice("default", "web-abc", { service: "web", addresses: ["10.244.0.9"] }),
    );
    s.compact();
    const seen = new Set<string>();
    let endpointChanges = 0;
    while (!seen.has("kube-system/dns") || !seen.has("default/web")) {
      const c = await next();
      assert.equal(c.all, false);
      c.services.forEach((k) => seen.add(k));
      endpointChanges += c.endpointChanges;
    }
    assert.deepEqual(
      [...seen].sort(),
      ["default/web", "kube-system/dns"],
      "unchanged objects are not announced",
    );
    assert.equal(endpointChanges, 1);
    assert.equal(source.stats().services!.relists, 1);
  });
});

Deno.test("KubeSource keeps its view when the API server goes away, and health() says how stale it is", async () => {
  let t = 5_000_000;
  await rig({ seed: cluster, now: () => t }, async ({ s, source, changes }) => {
    await source.start();
    await waitFor("three watches", () => s.openWatches === 3);
    const before = source.snapshot();
    const services = [...before.services.values()];
    assert.equal(source.health().lastContact, t);
    await s.close();
    const lostAt = t;
    await waitFor("all three failing", () => (source.health().error ?? "").split(";").length === 3);
    t += 90_000;
    const h = source.health();
    assert.equal(h.synced, true);
    assert.equal(h.lastContact, lostAt);
    assert.match(h.error!, /^services: .*; endpointslices: .*; node: /);
    assert.deepEqual([...source.snapshot().services.values()], services);
    assert.equal(source.snapshot().node?.metadata.name, "node-1");
    assert.deepEqual(changes, []);
  });
});

Deno.test("nodeLeavingReason() reports a node being deleted", () => {
  const node: Node = {
    kind: "Node",
    metadata: {
      name: "n",
      namespace: "",
      labels: {},
      annotations: {},
      deletionTimestamp: "2026-01-01T00:00:00Z",
    },
    spec: { taints: [], podCIDRs: [] },
    status: { addresses: [] },
  };
  assert.match(nodeLeavingReason(node)!, /node n is being deleted/);
  assert.equal(nodeLeavingReason(undefined), undefined);
  assert.equal(nodeZone(node), undefined);
});
