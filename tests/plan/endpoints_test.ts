// Endpoint categorization, unit by unit (the scenarios in plan_*_test.ts cover it end to end).
import assert from "node:assert/strict";
import {
  categorizeEndpoints,
  collectEndpoints,
  type EndpointInfo,
  endpointsForVirtualServer,
  topologyMode,
} from "../../src/plan/endpoints.ts";

const ep = (address: string, o: Partial<EndpointInfo> = {}): EndpointInfo => ({
  address,
  port: 8080,
  local: false,
  ready: true,
  serving: true,
  terminating: false,
  zoneHints: [],
  nodeHints: [],
  ...o,
});
import { slice } from "./_fixtures.ts";

const TOPO = { nodeName: "node-a", zone: "zone-a" };
const addrs = (eps?: EndpointInfo[]) => eps?.map((e) => e.address);

Deno.test("categorizeEndpoints() computes only the categories a port's policies use", () => {
  const eps = [ep("10.0.0.1", { local: true }), ep("10.0.0.2")];
  const cluster = categorizeEndpoints(eps, {
    internalPolicyLocal: false,
    externalPolicyLocal: false,
    externallyAccessible: false,
  }, TOPO);
  assert.deepEqual([addrs(cluster.cluster), cluster.local], [["10.0.0.1", "10.0.0.2"], undefined]);
  const internalOnly = categorizeEndpoints(eps, {
    internalPolicyLocal: true,
    externalPolicyLocal: false,
    externallyAccessible: false,
  }, TOPO);
  assert.deepEqual([internalOnly.cluster, addrs(internalOnly.local)], [undefined, ["10.0.0.1"]]);
  const both = categorizeEndpoints(eps, {
    internalPolicyLocal: false,
    externalPolicyLocal: true,
    externallyAccessible: true,
  }, TOPO);
  assert.deepEqual([addrs(both.cluster), addrs(both.local)], [["10.0.0.1", "10.0.0.2"], [
    "10.0.0.1",
  ]]);
  // externalTrafficPolicy Local on a port nobody reaches from outside uses no local endpoints.
  const unreachable = categorizeEndpoints(eps, {
    internalPolicyLocal: false,
    externalPolicyLocal: true,
    externallyAccessible: false,
  }, TOPO);
  assert.equal(unreachable.local, undefined);
});

Deno.test("categorizeEndpoints() falls back to local serving terminating endpoints on its own", () => {
  const eps = [
    ep("10.0.0.1", { local: true, ready: false, terminating: true }),
    ep("10.0.0.2", { local: true, ready: false, serving: false, terminating: true }),
    ep("10.0.0.3"),
  ];
  const c = categorizeEndpoints(eps, {
    internalPolicyLocal: true,
    externalPolicyLocal: false,
    externallyAccessible: true,
  }, TOPO);
  assert.deepEqual([addrs(c.cluster), addrs(c.local), c.hasAny], [
    ["10.0.0.3"],
    ["10.0.0.1"],
    true,
  ]);
});

Deno.test("categorizeEndpoints() says no endpoint exists when none is ready or serving", () => {
  const eps = [ep("10.0.0.1", { ready: false, serving: false })];
  const c = categorizeEndpoints(eps, {
    internalPolicyLocal: true,
    externalPolicyLocal: false,
    externallyAccessible: false,
  }, TOPO);
  assert.equal(c.hasAny, false);
  assert.deepEqual(endpointsForVirtualServer(c, true), { endpoints: [], noLocal: false });
});

Deno.test("endpointsForVirtualServer() falls back to Cluster endpoints without local ones", () => {
  const c = categorizeEndpoints([ep("10.0.0.2")], {
    internalPolicyLocal: false,
    externalPolicyLocal: true,
    externallyAccessible: true,
  }, TOPO);
  const local = endpointsForVirtualServer(c, true);
  assert.deepEqual([addrs(local.endpoints), local.noLocal], [["10.0.0.2"], true]);
  assert.deepEqual(endpointsForVirtualServer(c, false).noLocal, false);
});

Deno.test("topologyMode() needs hints on every ready endpoint and one for this node or zone", () => {
  const z = (zone: string, o: Partial<EndpointInfo> = {}) =>
    ep("10.0.0.1", { zoneHints: [zone], ...o });
  assert.equal(topologyMode([z("zone-a"), z("zone-b")], TOPO), "PreferSameZone");
  assert.equal(topologyMode([z("zone-b")], TOPO), "");
  assert.equal(topologyMode([z("zone-a"), ep("10.0.0.2")], TOPO), "");
  assert.equal(
    topologyMode([z("zone-a"), ep("10.0.0.2", { ready: false })], TOPO),
    "PreferSameZone",
  );
  assert.equal(topologyMode([z("zone-a", { nodeHints: ["node-a"] })], TOPO), "PreferSameNode");
  assert.equal(topologyMode([z("zone-a", { nodeHints: ["node-b"] })], TOPO), "PreferSameZone");
  assert.equal(topologyMode([], TOPO), "");
});

Deno.test("collectEndpoints() sorts by endpoint string and keeps one copy of each endpoint", () => {
  const opts = { family: 4 as const, nodeName: "node-a" };
  // Slices are read by name: "b" after "a", whatever order they come in.
  const b = slice({
    service: "s",
    name: "b",
    endpoints: [
      { ip: "10.0.0.1", terminating: true }, // a later terminating copy: "a"'s stays
      { ip: "10.0.0.2" }, // a later non-terminating copy replaces "a"'s
      { ip: "10.0.0.3", terminating: true }, // every copy terminating: the first stays
      "10.0.0.10@node-a",
      "10.0.0.10@node-b", // the same endpoint twice in one slice: the later one
      "fd00::1", // the other family: left out
    ],
  });
  const a = slice({
    service: "s",
    name: "a",
    endpoints: [
      "10.0.0.1@node-a",
      { ip: "10.0.0.2", terminating: true },
      { ip: "10.0.0.3", terminating: true, node: "node-a" },
    ],
  });
  const got = collectEndpoints([b, a], opts).get("TCP/http")!;
  // "10.0.0.10:8080" sorts before "10.0.0.1:8080" (':' is after '0'), as kube-proxy's strings.
  assert.deepEqual(
    got.map((e) => [e.address, e.local, e.terminating]),
    [
      ["10.0.0.10", false, false],
      ["10.0.0.1", true, false],
      ["10.0.0.2", false, false],
      ["10.0.0.3", true, true],
    ],
  );
  assert.deepEqual([...collectEndpoints([b, a], { ...opts, family: 6 }).keys()], []);
  assert.deepEqual([...collectEndpoints([a], opts).keys()], ["TCP/http"]);
});
