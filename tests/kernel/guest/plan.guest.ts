// Runs inside the test guest (see tests/kernel/plan_test.ts), as root, after the node's
// interfaces were set up: kube-ipvs0 (10.96.0.1, fd00:96::1), node0 (10.0.0.10/24,
// 169.254.3.4/16, fd00:1::10/64 and its fe80:: address), br-ext (192.168.100.1, fd00:100::1).
import assert from "node:assert/strict";
import { parseIpsetSave } from "../../../src/dataplane/ipset/save.ts";
import { KUBE_SETS, setName } from "../../../src/dataplane/ipset/sets.ts";
import type { Family } from "../../../src/net/family.ts";
import { DEFAULT_CONFIG } from "../../../src/config/config.ts";
import { nodeInfo } from "../../../src/plan/nodeinfo.ts";
import { nodePortAddresses } from "../../../src/plan/nodeports.ts";
import { plan } from "../../../src/plan/plan.ts";
import { cluster, slice, svc } from "../../plan/_fixtures.ts";

const interfaces = () => Deno.networkInterfaces();

Deno.test("nodePortAddresses() over Deno.networkInterfaces() keeps node addresses only", () => {
  const ifs = interfaces();
  assert.ok(
    ifs.some((i) => i.name === "node0" && i.address.startsWith("fe80:")),
    "precondition: node0 has an IPv6 link-local address",
  );
  assert.ok(ifs.some((i) => i.name === "kube-ipvs0" && i.address === "10.96.0.1"));
  assert.deepEqual(nodePortAddresses({ interfaces: ifs, nodePortAddresses: [] }), {
    4: ["10.0.0.10", "169.254.3.4", "192.168.100.1"],
    6: ["fd00:1::10", "fd00:100::1"],
  });
  assert.deepEqual(
    nodePortAddresses({ interfaces: ifs, nodePortAddresses: ["10.0.0.0/8", "fd00:100::/64"] }),
    { 4: ["10.0.0.10"], 6: ["fd00:100::1"] },
  );
});

/** Services that put at least one entry in every kube-proxy set of both families. */
function scenario() {
  const ds = (ip4: string, ip6: string) => [ip4, ip6];
  return cluster(
    svc({
      name: "web",
      type: "NodePort",
      ips: ds("10.96.0.10", "fd00:96::10"),
      ports: [
        { name: "http", port: 80, nodePort: 30080 },
        { name: "dns", protocol: "UDP", port: 53, nodePort: 30053 },
        { name: "sctp", protocol: "SCTP", port: 9999, nodePort: 30999 },
      ],
      externalIPs: ["198.51.100.5", "2001:db8::5"],
    }),
    slice({
      service: "web",
      ports: [{ name: "http", port: 8080 }, { name: "dns", protocol: "UDP", port: 5353 }, {
        name: "sctp",
        protocol: "SCTP",
        port: 9999,
      }],
      endpoints: ["10.244.1.2@kipvs-node", "10.244.2.3@node-b"],
    }),
    slice({
      service: "web",
      ports: [{ name: "http", port: 8080 }],
      endpoints: ["FD00:244::1:2@kipvs-node"],
    }),
    svc({
      name: "lb-local",
      type: "LoadBalancer",
      etp: "Local",
      hcnp: 32000,
      ips: ds("10.96.0.11", "fd00:96::11"),
      ports: [
        { name: "http", port: 80, nodePort: 30081 },
        { name: "dns", protocol: "UDP", port: 53, nodePort: 30054 },
        { name: "sctp", protocol: "SCTP", port: 9999, nodePort: 30998 },
      ],
      externalIPs: ["198.51.100.6", "2001:db8::6"],
      // Covers the node's IPs (192.168.100.1, fd00:100::1): the SOURCE-IP sets fill too.
      sourceRanges: ["192.168.100.0/24", "198.51.100.7/32", "fd00:100::/64", "2001:db8:7::7/128"],
      ingress: [{ ip: "203.0.113.10" }, { ip: "2001:db8::10" }],
    }),
  );
}

Deno.test("the kernel takes every planned ipset entry and ipset save prints each back unchanged", async () => {
  const node = nodeInfo({
    config: { hostname: "kipvs-node", nodePortAddresses: [] },
    node: {
      kind: "Node",
      metadata: { name: "kipvs-node", namespace: "", labels: {}, annotations: {} },
      spec: { taints: [], podCIDRs: [] },
      status: {
        addresses: [{ type: "InternalIP", address: "192.168.100.1" }, {
          type: "InternalIP",
          address: "fd00:100::1",
        }],
      },
    },
    interfaces: interfaces(),
  });
  const state = plan(scenario(), { config: { ...DEFAULT_CONFIG, families: [4, 6] }, node });
  for (const [name, entries] of state.ipsets) assert.ok(entries.size > 0, `${name} is empty`);

  const lines: string[] = [];
  for (const family of [4, 6] as Family[]) {
    for (const set of KUBE_SETS) {
      const name = setName(set.base, family);
      lines.push(
        set.type === "bitmap:port"
          ? `create ${name} bitmap:port range 0-65535`
          : `create ${name} ${set.type} family ${family === 4 ? "inet" : "inet6"}`,
      );
      for (const key of state.ipsets.get(name)!.keys()) lines.push(`add ${name} ${key}`);
    }
  }
  await run("ipset", ["restore"], lines.join("\n") + "\n");
  const text = await run("ipset", ["save"]);
  // The key of each planned member is the text ipset save prints for it ...
  const saved = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const [verb, name, entry] = line.split(" ");
    if (verb === "create") saved.set(name!, new Set());
    if (verb === "add") saved.get(name!)!.add(entry!);
  }
  const keys = new Map([...state.ipsets].map(([name, m]) => [name, new Set(m.keys())]));
  assert.deepEqual(saved, keys);
  // ... and that text reads back into the same typed member.
  const parsed = parseIpsetSave(text);
  for (const [name, members] of state.ipsets) {
    assert.deepEqual(parsed.get(name)!.members, members, name);
  }
});

async function run(program: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(program, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, `${program} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}
