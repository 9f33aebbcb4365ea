import { opsOf } from "../dataplane/ipset/_ops.ts";
import assert from "node:assert/strict";
import { FakeDummyLink } from "../dataplane/link/fake.ts";
import { applyCleanup, dryRunResult, planCleanup, planIsEmpty } from "../../src/diag/cleanup.ts";
import { readSnapshot } from "../../src/diag/snapshot.ts";
import { fakeNode, INTERFACES, scenario } from "./_node.ts";

const vs = (key: object) => ({
  key: key as never,
  scheduler: "rr",
  flags: 0,
  timeout: 0,
  netmask: 32,
  persistenceEngine: "",
});

async function clean(node: Awaited<ReturnType<typeof fakeNode>>, excludeCIDRs: string[] = []) {
  const snapshot = await node.snapshot();
  const plan = planCleanup({ snapshot, excludeCIDRs });
  const dry = dryRunResult(plan, snapshot);
  const done = await applyCleanup(plan, { ...node.dp });
  return { plan, dry, done };
}

/** What is left of kipvs's kinds of state in the fakes. */
async function leftovers(node: Awaited<ReturnType<typeof fakeNode>>) {
  const chains: string[] = [];
  for (const f of [4, 6] as const) {
    for (const [table, t] of await node.dp.iptables.save(f)) {
      for (const [name, c] of t) {
        if (name.startsWith("KUBE-")) chains.push(`${f}/${table}/${name}`);
        for (const r of c.rules) if (/ -j KUBE-/.test(r)) chains.push(`${f}/${table}: ${r}`);
      }
    }
  }
  return {
    ipvs: (await node.dp.ipvs.readAll()).map((e) => JSON.stringify(e.key)),
    link: (await node.dp.link.get()) !== undefined,
    sets: [...node.ipsetModel.sets.keys()],
    chains,
  };
}

Deno.test("cleanup removes everything kipvs programmed, in an order the kernel accepts, and a second run finds nothing", async () => {
  const node = await fakeNode(scenario());
  const { plan, dry, done } = await clean(node);
  assert.deepEqual(done.errors, []);
  assert.equal(done.virtualServers.length, 7);
  assert.equal(done.linkDeleted, true);
  assert.equal(done.sets.length, 17);
  assert.equal(done.chains.length, 11);
  assert.ok(done.jumps.includes("IPv4 nat/PREROUTING -> KUBE-SERVICES"));
  assert.deepEqual(done, dry, "the dry run said exactly this");
  assert.equal(planIsEmpty(plan), false);
  assert.deepEqual(await leftovers(node), { ipvs: [], link: false, sets: [], chains: [] });
  const again = planCleanup({ snapshot: await node.snapshot(), excludeCIDRs: [] });
  assert.equal(planIsEmpty(again), true);
});

Deno.test("cleanup leaves fwmark and excluded virtual servers and other tools' sets and chains; kube-ipvs0 goes whole", async () => {
  const node = await fakeNode(scenario());
  await node.dp.ipvs.addService(
    vs({ family: 4, protocol: "TCP", address: "10.200.0.1", port: 80 }),
  );
  await node.dp.ipvs.addService(vs({ family: 4, fwmark: 42 }));
  await node.dp.link.addAddresses(["10.200.0.1"]);
  await node.dp.ipset.apply(opsOf("create my-set hash:ip family inet\nadd my-set 10.1.1.1\n"));
  node.iptablesModel.restore(
    4,
    "*filter\n:MY-CHAIN - [0:0]\n-A MY-CHAIN -m set --match-set my-set src -j ACCEPT\n-A INPUT -j MY-CHAIN\nCOMMIT\n",
  );
  const { plan, done } = await clean(node, ["10.200.0.0/16"]);
  assert.deepEqual(plan.keptVirtualServers, [
    { text: "TCP/10.200.0.1:80", why: "inside --ipvs-exclude-cidrs" },
    { text: "FWM/42", why: "firewall mark: not kipvs's" },
  ]);
  assert.equal(plan.link, "delete", "as kube-proxy, the exclusion protects virtual servers only");
  assert.equal(done.linkDeleted, true);
  assert.equal(done.addresses.length, 6);
  const left = await leftovers(node);
  assert.deepEqual(left.ipvs.length, 2);
  assert.equal(left.link, false);
  assert.deepEqual(left.sets, ["my-set"]);
  assert.deepEqual(left.chains, []);
  const filter = (await node.dp.iptables.save(4)).get("filter")!;
  assert.deepEqual(filter.get("INPUT")!.rules, ["-A INPUT -j MY-CHAIN"]);
  assert.ok(filter.has("MY-CHAIN"));
});

Deno.test("cleanup keeps a kube-proxy set another rule still uses, and says which rule", async () => {
  const node = await fakeNode(scenario());
  node.iptablesModel.restore(
    4,
    "*filter\n-A INPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n",
  );
  const { dry, done } = await clean(node);
  assert.deepEqual(done.errors, []);
  assert.deepEqual(done.keptSets, [{
    name: "KUBE-CLUSTER-IP",
    usedBy: "rule in filter: -A INPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT",
  }]);
  assert.deepEqual(dry.keptSets, done.keptSets);
  assert.deepEqual((await leftovers(node)).sets, ["KUBE-CLUSTER-IP"]);
});

Deno.test("cleanup removes kube-proxy's older nat/KUBE-FIREWALL and the localnet guard, not kubelet's KUBE-FIREWALL", async () => {
  const guard =
    `-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`;
  const node = await fakeNode();
  node.iptablesModel.restore(
    4,
    [
      "*nat",
      ":KUBE-FIREWALL - [0:0]",
      ":KUBE-SERVICES - [0:0]",
      "-A KUBE-SERVICES -j KUBE-FIREWALL",
      "-A PREROUTING -j KUBE-SERVICES",
      "COMMIT",
      "*filter",
      ":KUBE-FIREWALL - [0:0]",
      guard,
      "-A INPUT -j KUBE-FIREWALL",
      "-A OUTPUT -j KUBE-FIREWALL",
      "COMMIT",
      "",
    ].join("\n"),
  );
  const { done } = await clean(node);
  assert.deepEqual(done.chains.sort(), [
    "IPv4 filter/KUBE-FIREWALL",
    "IPv4 nat/KUBE-FIREWALL",
    "IPv4 nat/KUBE-SERVICES",
  ]);
  assert.deepEqual((await leftovers(node)).chains, []);

  const kubelet = await fakeNode();
  kubelet.iptablesModel.restore(
    4,
    [
      "*filter",
      ":KUBE-FIREWALL - [0:0]",
      `-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" -m mark --mark 0x8000/0x8000 -j DROP`,
      guard,
      "-A INPUT -j KUBE-FIREWALL",
      "COMMIT",
      "",
    ].join("\n"),
  );
  const plan = planCleanup({ snapshot: await kubelet.snapshot(), excludeCIDRs: [] });
  assert.equal(planIsEmpty(plan), true, "kubelet's chain is not kipvs's to remove");
});

Deno.test("planCleanup() leaves a kube-ipvs0 that is not a dummy alone", async () => {
  const node = await fakeNode();
  const link = new FakeDummyLink({ existing: { kind: "veth", addresses: ["10.96.0.10"] } });
  const snapshot = await readSnapshot({
    ...node.diag,
    link,
    interfaces: () => INTERFACES,
  });
  assert.equal(planCleanup({ snapshot, excludeCIDRs: [] }).link, "none");
});
