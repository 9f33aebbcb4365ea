import { opsOf } from "../dataplane/ipset/_ops.ts";
import assert from "node:assert/strict";
import { opText } from "../../src/dataplane/ipvs/describe.ts";
import { diffNode } from "../../src/diag/diff.ts";
import { diffText } from "../../src/diag/diff_text.ts";
import type { ProxyConfig } from "../../src/config/config.ts";
import { CONFIG, desiredOf, fakeNode, scenario } from "./_node.ts";

const WEB = { family: 4 as const, protocol: "TCP" as const, address: "10.96.0.10", port: 80 };
const dest = (address: string, weight = 1) => ({
  address,
  port: 8080,
  family: 4 as const,
  forward: "masq" as const,
  weight,
  upperThreshold: 0,
  lowerThreshold: 0,
});

async function diffOf(node: Awaited<ReturnType<typeof fakeNode>>, config: ProxyConfig = CONFIG) {
  return diffNode({
    desired: desiredOf(scenario(), config),
    snapshot: await node.snapshot([4]),
    config,
    randomFully: true,
  });
}

Deno.test("diffNode() finds nothing to change right after a full sync", async () => {
  const node = await fakeNode(scenario());
  const d = await diffOf(node);
  assert.equal(d.changes, 0, JSON.stringify(d, null, 1));
  assert.equal(d.inSync, true);
  assert.equal(diffText(d, { color: false }), "no changes: the node matches the plan\n");
});

Deno.test("diffNode() predicts exactly the IPVS operations the next full sync applies", async () => {
  const node = await fakeNode(scenario());
  const ipvs = node.dp.ipvs;
  // Outside changes: a real server removed, one re-weighted, a stray one with connections (it
  // drains), a stray virtual server, a virtual server's scheduler changed.
  await ipvs.deleteDestination(WEB, dest("10.244.2.2"));
  await ipvs.updateDestination({ ...WEB, port: 80, address: "10.96.0.30" }, dest("10.244.1.2", 5));
  await ipvs.addDestination(WEB, dest("10.244.9.9"));
  ipvs.setDestinationStatus(WEB, dest("10.244.9.9"), { activeConnections: 2 });
  await ipvs.addService({
    key: { ...WEB, address: "10.96.7.7" },
    scheduler: "rr",
    flags: 0,
    timeout: 0,
    netmask: 32,
    persistenceEngine: "",
  });
  await ipvs.updateService({
    key: { ...WEB, address: "10.96.0.20" },
    scheduler: "wrr",
    flags: 0,
    timeout: 0,
    netmask: 32,
    persistenceEngine: "",
  });
  const d = await diffOf(node);
  assert.deepEqual(d.ipvs.map((c) => c.text), [
    "add destination 10.244.2.2:8080 to TCP/10.96.0.10:80",
    "update destination 10.244.9.9:8080 of TCP/10.96.0.10:80",
    "update service TCP/10.96.0.20:80",
    "update destination 10.244.1.2:8080 of TCP/10.96.0.30:80",
    "delete service TCP/10.96.7.7:80",
  ]);
  assert.deepEqual(d.draining, [{
    virtualServer: "TCP/10.96.0.10:80",
    realServer: "10.244.9.9:8080",
    connections: 2,
  }]);
  assert.equal(d.ipvs[0]!.service, "default/web:http");

  const before = ipvs.log.length;
  await node.sync(scenario());
  const applied = ipvs.log.slice(before).map(opText).sort();
  assert.deepEqual(applied, d.ipvs.map((c) => c.text).sort(), "the sync did what the diff said");
  assert.equal((await diffOf(node)).inSync, true);
});

Deno.test("diffNode() reports kube-ipvs0 addresses, set entries, chain rules and jumps a sync would restore", async () => {
  const node = await fakeNode(scenario());
  await node.dp.link.deleteAddresses(["10.96.0.20"]);
  await node.dp.link.addAddresses(["10.96.9.9"]);
  await node.dp.ipset.apply(opsOf(
    "del KUBE-CLUSTER-IP 10.96.0.53,udp:53\nadd KUBE-LOOP-BACK 10.0.0.1,tcp:1,10.0.0.1\n",
  ));
  node.iptablesModel.restore(
    4,
    [
      "*nat",
      "-D KUBE-SERVICES -s 127.0.0.0/8 -j RETURN",
      '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      "COMMIT",
      "",
    ].join("\n"),
  );
  const d = await diffOf(node);
  assert.deepEqual(d.addresses, { add: ["10.96.0.20"], remove: ["10.96.9.9"] });
  assert.deepEqual(d.ipsets.add, [{ set: "KUBE-CLUSTER-IP", entry: "10.96.0.53,udp:53" }]);
  assert.deepEqual(d.ipsets.del, [{ set: "KUBE-LOOP-BACK", entry: "10.0.0.1,tcp:1,10.0.0.1" }]);
  assert.deepEqual(d.iptables, [{
    family: 4,
    chains: [{
      table: "nat",
      chain: "KUBE-SERVICES",
      added: ["-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN"],
      removed: [],
      reordered: false,
    }],
    jumps: ["nat/PREROUTING -> KUBE-SERVICES"],
  }]);
  assert.equal(d.changes, 6);
  const text = diffText(d, { color: false });
  assert.match(text, /^kube-ipvs0\n {2}\+ 10\.96\.0\.20\n {2}- 10\.96\.9\.9$/m);
  assert.match(
    text,
    /^ {2}nat\/KUBE-SERVICES\n {4}\+ -A KUBE-SERVICES -s 127\.0\.0\.0\/8 -j RETURN$/m,
  );
  assert.match(text, /^6 change\(s\): the node is out of step/m);

  await node.sync(scenario());
  assert.equal((await diffOf(node)).inSync, true, "a sync makes exactly these changes");
});

Deno.test("diffNode() leaves virtual servers inside --ipvs-exclude-cidrs and fwmark services alone, but not their addresses", async () => {
  const config = { ...CONFIG, excludeCIDRs: ["10.200.0.0/16"] };
  const node = await fakeNode(scenario(), config);
  await node.dp.ipvs.addService({
    key: { ...WEB, address: "10.200.0.1" },
    scheduler: "rr",
    flags: 0,
    timeout: 0,
    netmask: 32,
    persistenceEngine: "",
  });
  await node.dp.ipvs.addService({
    key: { family: 4, fwmark: 42 },
    scheduler: "rr",
    flags: 0,
    timeout: 0,
    netmask: 32,
    persistenceEngine: "",
  });
  await node.dp.link.addAddresses(["10.200.0.1"]);
  const d = await diffOf(node, config);
  assert.deepEqual(d.ipvs, []);
  // Like the proxier (and kube-proxy): the exclusion protects virtual servers, not addresses.
  assert.deepEqual(d.addresses, { add: [], remove: ["10.200.0.1"] });
  await node.sync(scenario());
  assert.equal((await diffOf(node, config)).inSync, true, "the sync agreed");
  assert.equal((await node.dp.ipvs.readAll()).length, 9, "both virtual servers stayed");
});

Deno.test("diffNode() on a node kipvs never touched wants the link, every set and every chain", async () => {
  const node = await fakeNode();
  const d = await diffOf(node);
  assert.equal(d.createLink, true);
  assert.equal(d.ipsets.create.length, 17, "all of kube-proxy's IPv4 sets");
  assert.deepEqual(d.iptables[0]?.jumps.length, 9);
  assert.ok(d.ipvs.every((c) => c.op.op.startsWith("add")));
  assert.ok(
    diffText(d, { color: true }).includes("\x1b[32m+ create the dummy link kube-ipvs0\x1b[0m"),
  );
});
