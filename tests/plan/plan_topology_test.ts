// Scenario tests of topology: zone hints (topology-aware routing, trafficDistribution
// PreferClose/PreferSameZone) and node hints (trafficDistribution PreferSameNode), as kube-proxy's
// CategorizeEndpoints applies them to Cluster-policy endpoints.
import assert from "node:assert/strict";
import type { EpOptions } from "./_fixtures.ts";
import { planDump, slice, svc } from "./_fixtures.ts";

/** The real servers of the cluster IP for these endpoints, on node-a in zone-a. */
function realServers(endpoints: EpOptions[], node: { zone?: string } = { zone: "zone-a" }) {
  return planDump([svc({ name: "web" }), slice({ service: "web", endpoints })], { node }).filter((
    l,
  ) => l.startsWith("rs ")).map((l) => l.split(" ")[2]!.replace(":8080", ""));
}

const A = { ip: "10.244.1.2", node: "node-b", zones: ["zone-a"] };
const B = { ip: "10.244.2.3", node: "node-c", zones: ["zone-b"] };

Deno.test("topology: zone hints that all ready endpoints carry narrow to this zone", () => {
  assert.deepEqual(realServers([A, B]), ["10.244.1.2"]);
});

Deno.test("topology: one ready endpoint without a hint turns zone hints off", () => {
  assert.deepEqual(realServers([A, B, { ip: "10.244.3.4", node: "node-d" }]), [
    "10.244.1.2",
    "10.244.2.3",
    "10.244.3.4",
  ]);
});

Deno.test("topology: an unready endpoint without a hint does not turn zone hints off", () => {
  const starting = { ip: "10.244.3.4", node: "node-d", ready: false, serving: false };
  assert.deepEqual(realServers([A, B, starting]), ["10.244.1.2"]);
});

Deno.test("topology: no hint for this zone, or no zone label, means every endpoint", () => {
  assert.deepEqual(realServers([A, B], { zone: "zone-c" }), ["10.244.1.2", "10.244.2.3"]);
  assert.deepEqual(realServers([A, B], { zone: undefined }), ["10.244.1.2", "10.244.2.3"]);
});

Deno.test("topology: node hints for this node win over zone hints (PreferSameNode)", () => {
  const here = { ip: "10.244.1.2", node: "node-a", zones: ["zone-a"], nodes: ["node-a"] };
  const there = { ip: "10.244.1.3", node: "node-b", zones: ["zone-a"], nodes: ["node-b"] };
  assert.deepEqual(realServers([here, there]), ["10.244.1.2"]);
  // A node hint missing on one endpoint: back to zone hints.
  const noNode = { ip: "10.244.1.3", node: "node-b", zones: ["zone-a"] };
  assert.deepEqual(realServers([here, noNode]), ["10.244.1.2", "10.244.1.3"]);
});

Deno.test("topology: the terminating fallback ignores hints", () => {
  const t = (ip: string, zones: string[]) => ({
    ip,
    node: "node-b",
    terminating: true,
    serving: true,
    zones,
  });
  assert.deepEqual(realServers([t("10.244.1.2", ["zone-b"]), t("10.244.1.3", ["zone-a"])]), [
    "10.244.1.2",
    "10.244.1.3",
  ]);
});

Deno.test("topology: Local policies pick local endpoints whatever their hints", () => {
  const got = planDump([
    svc({ name: "web", type: "NodePort", etp: "Local", ports: [{ nodePort: 30080 }] }),
    slice({
      service: "web",
      endpoints: [
        { ip: "10.244.1.2", node: "node-a", zones: ["zone-b"] },
        { ip: "10.244.1.3", node: "node-b", zones: ["zone-a"] },
      ],
    }),
  ]).filter((l) => l.startsWith("rs "));
  assert.deepEqual(got, [
    // the cluster IP follows the hints, the node port its Local policy
    "rs TCP/10.96.0.10:80 10.244.1.3:8080",
    "rs TCP/192.168.1.10:30080 10.244.1.2:8080 local",
  ]);
});
