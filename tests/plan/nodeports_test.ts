// Node-port addresses (--nodeport-addresses), node IPs and NodeInfo.
import assert from "node:assert/strict";
import { KipvsError } from "../../src/errors.ts";
import type { Node } from "../../src/k8s/types.ts";
import { ZONE_LABEL } from "../../src/k8s/types.ts";
import { nodeInfo } from "../../src/plan/nodeinfo.ts";
import {
  type InterfaceAddress,
  localAddresses,
  nodeIPs,
  nodePortAddresses,
} from "../../src/plan/nodeports.ts";

const IFACES: InterfaceAddress[] = [
  { name: "lo", address: "127.0.0.1", family: "IPv4" },
  { name: "lo", address: "::1", family: "IPv6" },
  { name: "eth0", address: "192.168.1.10", family: "IPv4" },
  { name: "eth0", address: "fd00:1:0::10", family: "IPv6" },
  { name: "eth0", address: "fe80::a8c1:abff:fe00:1", family: "IPv6" },
  { name: "eth1", address: "10.0.0.10", family: "IPv4" },
  { name: "eth1", address: "10.0.0.2", family: "IPv4" },
  // IPv4 link-local stays: kube-proxy only drops IPv6 link-local.
  { name: "eth2", address: "169.254.3.4", family: "IPv4" },
  { name: "kube-ipvs0", address: "10.96.0.10", family: "IPv4" },
  { name: "kube-ipvs0", address: "fd00:96::10", family: "IPv6" },
  // Listed twice (a second interface with the same address).
  { name: "eth3", address: "192.168.1.10", family: "IPv4" },
];

Deno.test("nodePortAddresses() defaults to every address but loopback, IPv6 link-local and kube-ipvs0", () => {
  assert.deepEqual(nodePortAddresses({ interfaces: IFACES, nodePortAddresses: [] }), {
    4: ["10.0.0.2", "10.0.0.10", "169.254.3.4", "192.168.1.10"],
    6: ["fd00:1::10"],
  });
  assert.deepEqual(
    nodePortAddresses({ interfaces: IFACES, nodePortAddresses: ["0.0.0.0/0", "::/0"] }),
    nodePortAddresses({ interfaces: IFACES, nodePortAddresses: [] }),
    "zero CIDRs mean all",
  );
  assert.deepEqual(localAddresses(IFACES), {
    4: ["10.0.0.2", "10.0.0.10", "169.254.3.4", "192.168.1.10"],
    6: ["fd00:1::10"],
  });
});

Deno.test("nodePortAddresses() keeps addresses inside the CIDRs; a family without CIDRs keeps all", () => {
  assert.deepEqual(
    nodePortAddresses({ interfaces: IFACES, nodePortAddresses: ["10.0.0.0/24", "10.96.0.0/12"] }),
    // kube-ipvs0's 10.96.0.10 stays out even though a CIDR covers it (a kipvs choice).
    { 4: ["10.0.0.2", "10.0.0.10"], 6: ["fd00:1::10"] },
  );
  assert.deepEqual(
    nodePortAddresses({
      interfaces: IFACES,
      nodePortAddresses: ["127.0.0.0/8", "fe80::/10", " 192.168.1.10/32 "],
    }),
    // Loopback never serves node ports here; IPv6 link-local does when a CIDR asks for it.
    { 4: ["192.168.1.10"], 6: ["fe80::a8c1:abff:fe00:1"] },
  );
});

Deno.test('nodePortAddresses() reads "primary" as the node\'s IPs, and all for a family without one', () => {
  const ips = nodeIPs({ node: node([["InternalIP", "10.0.0.10"]]) });
  assert.deepEqual(
    nodePortAddresses({ interfaces: IFACES, nodePortAddresses: ["primary"], nodeIPs: ips }),
    { 4: ["10.0.0.10"], 6: ["fd00:1::10"] },
  );
  const dual = nodeIPs({ node: node([["InternalIP", "10.0.0.10"], ["InternalIP", "fd00:1::10"]]) });
  assert.deepEqual(
    nodePortAddresses({ interfaces: IFACES, nodePortAddresses: ["primary"], nodeIPs: dual }),
    { 4: ["10.0.0.10"], 6: ["fd00:1::10"] },
  );
  const none = nodeIPs();
  assert.deepEqual(
    nodePortAddresses({ interfaces: IFACES, nodePortAddresses: ["primary"], nodeIPs: none }),
    nodePortAddresses({ interfaces: IFACES, nodePortAddresses: [] }),
  );
});

Deno.test('nodePortAddresses() rejects a value that is neither a CIDR nor a lone "primary"', () => {
  for (const bad of [["10.0.0.1"], ["primary", "10.0.0.0/8"], ["10.0.0.0/33"], ["eth0"]]) {
    assert.throws(
      () => nodePortAddresses({ interfaces: IFACES, nodePortAddresses: bad }),
      (e: unknown) =>
        e instanceof KipvsError && e.code === "invalid-config" &&
        e.message.includes("--nodeport-addresses") && bad.some((b) => e.message.includes(b)),
      bad.join(","),
    );
  }
});

Deno.test("nodeIPs() prefers InternalIP, adds the other family, and honours --bind-address", () => {
  const n = node([
    ["Hostname", "node-a"],
    ["ExternalIP", "203.0.113.7"],
    ["InternalIP", "fd00:1::10"],
    ["InternalIP", "fd00:1::11"],
    ["InternalIP", "10.0.0.10"],
  ]);
  assert.deepEqual(nodeIPs({ node: n }), { primaryFamily: 6, 4: "10.0.0.10", 6: "fd00:1::10" });
  assert.deepEqual(nodeIPs({ node: node([["ExternalIP", "203.0.113.7"]]) }), {
    primaryFamily: 4,
    4: "203.0.113.7",
    6: "::1",
  });
  assert.deepEqual(nodeIPs({ node: n, bindAddress: "10.0.0.99" }), {
    primaryFamily: 4,
    4: "10.0.0.99",
    6: "fd00:1::10",
  });
  assert.deepEqual(nodeIPs({ node: n, bindAddress: "0.0.0.0" }), nodeIPs({ node: n }));
  assert.deepEqual(nodeIPs(), { primaryFamily: 4, 4: "127.0.0.1", 6: "::1" });
});

Deno.test("nodeInfo() gathers name, zone, node IPs, local and node-port addresses", () => {
  const n = node([["InternalIP", "192.168.1.10"]], { [ZONE_LABEL]: "zone-a" });
  assert.deepEqual(
    nodeInfo({
      config: { hostname: "node-a", nodePortAddresses: ["192.168.0.0/16"] },
      node: n,
      interfaces: IFACES,
    }),
    {
      name: "node-a",
      zone: "zone-a",
      nodePortAddresses: { 4: ["192.168.1.10"], 6: ["fd00:1::10"] },
      ips: { 4: "192.168.1.10", 6: "::1" },
      localAddresses: ["10.0.0.2", "10.0.0.10", "169.254.3.4", "192.168.1.10", "fd00:1::10"],
    },
  );
  const bare = nodeInfo({ config: { hostname: "n", nodePortAddresses: [] }, interfaces: [] });
  assert.equal("zone" in bare, false);
});

function node(addresses: [string, string][], labels: Record<string, string> = {}): Node {
  return {
    kind: "Node",
    metadata: { name: "node-a", namespace: "", labels, annotations: {} },
    spec: { taints: [], podCIDRs: [] },
    status: { addresses: addresses.map(([type, address]) => ({ type, address })) },
  };
}
