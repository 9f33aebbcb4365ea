import assert from "node:assert/strict";
import { explain, type ExplainOptions } from "../../src/diag/explain.ts";
import { explainText, outcomeText } from "../../src/diag/explain_text.ts";
import { parseTarget } from "../../src/diag/target.ts";
import { cluster, slice, svc } from "../plan/_fixtures.ts";
import { CONFIG, desiredOf, fakeNode, scenario } from "./_node.ts";

async function trace(target: string, o: Partial<ExplainOptions> & { source?: boolean } = {}) {
  const state = scenario();
  const node = await fakeNode(state);
  const snapshot = await node.snapshot([4]);
  const withSource = o.source ?? true;
  return explain({
    target: parseTarget(target),
    snapshot,
    ...(withSource ? { desired: desiredOf(state), services: state.services } : {}),
    ...o,
  });
}

const rulesMet = (e: Awaited<ReturnType<typeof trace>>, hook: string) =>
  [...e.hooks, ...e.afterIpvs].find((h) => h.hook === hook)?.steps.filter((s) =>
    s.result === "match"
  ).map((s) => `${s.chain}: ${s.action}`) ?? [];

Deno.test("explain() delivers the node's own packet to a cluster IP, masqueraded, as the kernel picks the VIP as source", async () => {
  const e = await trace("tcp/10.96.0.10:80");
  assert.equal(e.origin, "node");
  assert.equal(e.source, "10.96.0.10");
  assert.deepEqual(e.service?.name, "default/web:http");
  assert.equal(e.service?.kind, "cluster-ip");
  assert.deepEqual(e.hooks.map((h) => h.hook), ["nat/OUTPUT"]);
  assert.deepEqual(rulesMet(e, "nat/OUTPUT"), [
    "OUTPUT: jump KUBE-SERVICES",
    "KUBE-SERVICES: jump KUBE-MARK-MASQ",
    "KUBE-MARK-MASQ: MARK --set-xmark 0x4000/0x4000 (mark now 0x4000)",
    "KUBE-SERVICES: jump KUBE-NODE-PORT",
    "KUBE-SERVICES: ACCEPT",
  ]);
  assert.deepEqual(e.outcome, { kind: "balanced", realServers: 2, masqueraded: 2 });
  assert.deepEqual(
    e.ipvs?.realServers.map((r) => [r.address, r.local, r.masquerade]),
    [["10.244.1.2", true, true], ["10.244.2.2", false, true]],
  );
  assert.deepEqual(e.withoutEndpoints, { kind: "no-endpoints" });
});

Deno.test("explain() keeps a pod's source address and masquerades only its own real server (hairpin)", async () => {
  const e = await trace("tcp/10.96.0.10:80", { from: "10.244.1.2" });
  assert.equal(e.origin, "remote");
  assert.deepEqual(e.hooks.map((h) => h.hook), ["nat/PREROUTING", "filter/INPUT"]);
  assert.ok(!rulesMet(e, "nat/PREROUTING").some((r) => r.includes("KUBE-MARK-MASQ")));
  assert.equal(e.shownFor, "10.244.1.2:8080", "the hairpin real server is the one shown");
  assert.deepEqual(rulesMet(e, "nat/POSTROUTING"), [
    "POSTROUTING: jump KUBE-POSTROUTING",
    "KUBE-POSTROUTING: MASQUERADE",
  ]);
  const hairpin = e.ipvs!.realServers.find((r) => r.hairpin)!;
  assert.equal(hairpin.masquerade, true);
  assert.equal(e.ipvs!.realServers.find((r) => !r.hairpin)!.masquerade, false);
  assert.deepEqual(e.outcome, { kind: "balanced", realServers: 2, masqueraded: 1 });
  assert.ok(
    e.lookups.some((l) =>
      l.set === "KUBE-LOOP-BACK" && l.element === "10.244.1.2,tcp:8080,10.244.1.2" && l.found
    ),
  );
});

Deno.test("explain() drops a load balancer packet from outside its source ranges in KUBE-SOURCE-RANGES-FIREWALL", async () => {
  const e = await trace("tcp/203.0.113.10:80", { from: "192.0.2.7" });
  assert.deepEqual(e.outcome, {
    kind: "dropped",
    hook: "filter/INPUT",
    rule: "-A KUBE-SOURCE-RANGES-FIREWALL -j DROP",
  });
  assert.deepEqual(e.withoutEndpoints, e.outcome, "the firewall comes before IPVS");
  assert.equal(e.ipvs, undefined, "IPVS never sees it");
  const cidr = e.lookups.find((l) => l.set === "KUBE-LOAD-BALANCER-SOURCE-CIDR");
  assert.deepEqual([cidr?.element, cidr?.found], ["203.0.113.10,tcp:80,192.0.2.7", false]);
  assert.match(outcomeText(e.outcome), /times out/);
});

Deno.test("explain() lets a source inside the load balancer's ranges through, masqueraded", async () => {
  const e = await trace("tcp/203.0.113.10:80", { from: "198.51.100.9" });
  assert.deepEqual(e.outcome, { kind: "balanced", realServers: 1, masqueraded: 1 });
  const cidr = e.lookups.find((l) => l.set === "KUBE-LOAD-BALANCER-SOURCE-CIDR");
  assert.deepEqual(
    [cidr?.found, cidr?.entry],
    [true, "203.0.113.10,tcp:80,198.51.100.0/24"],
    "matched by network containment",
  );
  assert.equal(e.service?.kind, "load-balancer");
});

Deno.test("explain() drops the node's own packet to a load balancer whose ranges leave it out, after IPVS", async () => {
  const e = await trace("tcp/203.0.113.10:80");
  assert.equal(e.source, "203.0.113.10");
  assert.equal(e.outcome.kind, "dropped");
  assert.equal(e.outcome.kind === "dropped" && e.outcome.hook, "filter/OUTPUT");
  assert.match(
    e.outcome.kind === "dropped" ? e.outcome.rule : "",
    /^-A KUBE-IPVS-OUT-FILTER -s 203\.0\.113\.10\/32 -m ipvs --vproto 6 --vaddr 203\.0\.113\.10 --vport 80 -j DROP$/,
  );
  assert.deepEqual(e.withoutEndpoints, { kind: "no-endpoints" }, "IPVS answers before filter");
});

Deno.test("explain() answers connection refused for a service without endpoints", async () => {
  const e = await trace("tcp/10.96.0.20:80", { from: "192.0.2.7" });
  assert.deepEqual(e.outcome, { kind: "no-endpoints" });
  assert.deepEqual(e.ipvs?.realServers, []);
  assert.match(outcomeText(e.outcome), /ICMP port unreachable.*connection refused/);
});

Deno.test("explain() rejects a port that is no service on a service address (KUBE-IPVS-FILTER)", async () => {
  const e = await trace("tcp/10.96.0.10:9999", { from: "192.0.2.7" });
  assert.equal(e.outcome.kind, "rejected");
  assert.match(e.outcome.kind === "rejected" ? e.outcome.rule : "", /KUBE-IPVS-IPS dst -j REJECT/);
  assert.match(e.notes.join("\n"), /10\.96\.0\.10 belongs to default\/web:http, on tcp\/80/);
  assert.ok(
    e.hooks[1]!.steps.some((s) =>
      s.notes.includes("assumed: the first packet of a new connection")
    ),
  );
});

Deno.test("explain() reaches a node port from outside through the node's address", async () => {
  const e = await trace("tcp/192.168.1.10:30080", { from: "192.0.2.7" });
  assert.equal(e.service?.kind, "node-port");
  assert.deepEqual(e.outcome, { kind: "balanced", realServers: 2, masqueraded: 2 });
  assert.ok(rulesMet(e, "nat/PREROUTING").includes("KUBE-NODE-PORT: jump KUBE-MARK-MASQ"));
});

Deno.test("explain() says an address that is not the node's is routed on", async () => {
  const e = await trace("tcp/10.244.2.2:8080", { from: "192.0.2.7" });
  assert.deepEqual(e.outcome, { kind: "not-local" });
  assert.match(e.notes.join(), /no service in the source has TCP\/10\.244\.2\.2:8080/);
});

Deno.test("explain() names the service's policies and affinity from the source", async () => {
  const e = await trace("udp/10.96.0.53:53", { from: "10.244.1.2" });
  assert.deepEqual(e.service, {
    name: "kube-system/dns:dns",
    kind: "cluster-ip",
    policy: { internal: "Cluster", external: "Cluster", affinity: "ClientIP 10800s" },
  });
  assert.equal(e.ipvs?.persistenceTimeout, 10800);
  assert.equal(e.ipvs?.realServers[0]?.local, false);
});

Deno.test("explain() without a source takes the kind from kube-proxy's sets and cannot tell locality", async () => {
  const e = await trace("tcp/10.96.0.10:80", { source: false });
  assert.deepEqual(e.service, { kind: "cluster-ip" });
  assert.equal(e.ipvs?.realServers[0]?.local, undefined);
  assert.match(
    explainText(e, { color: false }),
    /service: \(no source: names unknown\), cluster-ip/,
  );
});

Deno.test("explain() sends nothing to weight-0 (draining) real servers; all draining is no endpoints", async () => {
  const state = scenario();
  const node = await fakeNode(state);
  for (const address of ["10.244.1.2", "10.244.2.2"]) {
    await node.dp.ipvs.updateDestination(
      { family: 4, protocol: "TCP", address: "10.96.0.10", port: 80 },
      {
        address,
        port: 8080,
        family: 4,
        forward: "masq",
        weight: 0,
        upperThreshold: 0,
        lowerThreshold: 0,
      },
    );
  }
  const e = explain({
    target: parseTarget("tcp/10.96.0.10:80"),
    snapshot: await node.snapshot([4]),
  });
  assert.deepEqual(e.outcome, { kind: "no-endpoints" });
  assert.deepEqual(e.ipvs?.realServers.map((r) => r.receives), [false, false]);
});

Deno.test("explain() notes a planned virtual server the kernel lacks", async () => {
  const state = scenario();
  const node = await fakeNode(state);
  await node.dp.ipvs.deleteService({ family: 4, protocol: "TCP", address: "10.96.0.20", port: 80 });
  const e = explain({
    target: parseTarget("tcp/10.96.0.20:80"),
    from: "192.0.2.7",
    snapshot: await node.snapshot([4]),
    desired: desiredOf(state),
  });
  assert.match(
    e.notes.join(),
    /the plan has TCP\/10\.96\.0\.20:80 for default\/empty:http but the kernel does not/,
  );
  assert.deepEqual(e.outcome, { kind: "local" }, "the node's own stack answers");
});

Deno.test("explain() takes a rule it cannot evaluate (an interface match) as not matching, and says so", async () => {
  const state = scenario();
  const node = await fakeNode(state);
  node.iptablesModel.restore(4, "*filter\n-I INPUT 1 -i eth9 -j DROP\nCOMMIT\n");
  const e = explain({
    target: parseTarget("tcp/10.96.0.10:80"),
    from: "192.0.2.7",
    snapshot: await node.snapshot([4]),
  });
  const step = e.hooks[1]!.steps[0]!;
  assert.equal(step.result, "unknown");
  assert.deepEqual(step.notes, ["interface match -i eth9 is not traced"]);
  assert.equal(e.outcome.kind, "balanced");
  assert.match(explainText(e, { color: false }), /unknown: taken as no/);
});

Deno.test("explainText() reads as hooks, lookups, real servers and the answer", async () => {
  const text = explainText(await trace("tcp/10.96.0.10:80", { from: "10.244.1.2" }), {
    color: false,
  });
  assert.match(text, /^TCP\/10\.96\.0\.10:80 from 10\.244\.1\.2 \(from a pod or another host/);
  assert.match(text, /^nat\/PREROUTING: ACCEPT$/m);
  assert.match(text, /^ {2}RESULT +CHAIN +RULE$/m);
  assert.match(text, /^ {2}KUBE-LOOP-BACK +10\.244\.1\.2,tcp:8080,10\.244\.1\.2 +yes$/m);
  assert.match(text, /^ {2}10\.244\.1\.2:8080 +1 +yes +ACCEPT +yes +hairpin$/m);
  assert.match(text, /^answer: delivered to one of 2 real servers; masqueraded .* for 1 of them$/m);
  assert.ok(!text.includes("\x1b["), "no colour when not asked");
});

Deno.test("explain() traces IPv6 through ip6tables and the KUBE-6- sets", async () => {
  const state = cluster(
    svc({ name: "web6", ips: ["fd00:96::10"] }),
    slice({ service: "web6", name: "web6-1", endpoints: ["fd00:244::2@node-a"] }),
  );
  const config = { ...CONFIG, families: [4, 6] as (4 | 6)[], clusterCIDRs: ["fd00:244::/64"] };
  const node = await fakeNode(state, config);
  const snapshot = await node.snapshot([6]);
  const fromPod = explain({
    target: parseTarget("tcp/[fd00:96::10]:80"),
    from: "fd00:244::2",
    snapshot,
    desired: desiredOf(state, config),
  });
  assert.equal(fromPod.target, "TCP/[fd00:96::10]:80");
  assert.deepEqual(fromPod.outcome, { kind: "balanced", realServers: 1, masqueraded: 1 });
  assert.ok(
    fromPod.lookups.some((l) =>
      l.set === "KUBE-6-LOOP-BACK" && l.element === "fd00:244::2,tcp:8080,fd00:244::2" && l.found
    ),
  );
  const wrongPort = explain({
    target: parseTarget("tcp/[fd00:96::10]:81"),
    from: "2001:db8::7",
    snapshot,
  });
  assert.equal(wrongPort.outcome.kind, "rejected");
  assert.match(
    wrongPort.outcome.kind === "rejected" ? wrongPort.outcome.rule : "",
    /KUBE-6-IPVS-IPS dst -j REJECT --reject-with icmp6-port-unreachable$/,
  );
});

Deno.test("explain() points at a service address missing from kube-ipvs0: IPVS never sees the packet", async () => {
  const state = scenario();
  const node = await fakeNode(state);
  await node.dp.link.deleteAddresses(["10.96.0.10"]);
  const e = explain({
    target: parseTarget("tcp/10.96.0.10:80"),
    from: "10.244.2.2",
    snapshot: await node.snapshot([4]),
  });
  assert.deepEqual(e.outcome, { kind: "not-local" });
  assert.match(
    e.notes.join(),
    /virtual server TCP\/10\.96\.0\.10:80, but 10\.96\.0\.10 is not an address of this node/,
  );
});
