import assert from "node:assert/strict";
import { planRules } from "../../../src/plan/rules.ts";
import {
  elementText,
  intervalMembers,
  listText,
  renderNftables,
} from "../../../src/dataplane/nftables/render.ts";
import { parseNftTable } from "../../../src/dataplane/nftables/parse.ts";
import { baseChains } from "../../../src/dataplane/nftables/layout.ts";
import { nftScript } from "../../../src/reconcile/nftables_script.ts";
import { member } from "../ipset/_ops.ts";
import { SCENARIO_CONFIG, scenarioSets } from "../iptables/_scenario.ts";

const table = (family: 4 | 6 = 4, config = SCENARIO_CONFIG) => {
  const sets = scenarioSets();
  return renderNftables({ rules: planRules({ family, config, ipsets: sets }), sets });
};
const chain = (name: string, family: 4 | 6 = 4, config = SCENARIO_CONFIG) =>
  table(family, config).chains.find((c) => c.name === name)!.rules;

// Written by hand from kube-proxy's rules (tests/plan/rules_test.ts's GOLDEN_V4) by the rules of
// tests/kernel/testdata/e2e/golden/README.md, in the text `nft list` prints.
Deno.test("nft rendering: the services chain of the scenario", () => {
  assert.deepEqual(chain("services"), [
    "ip saddr 127.0.0.0/8 return",
    'ip daddr . meta l4proto . th dport @load-balancer jump load-balancer comment "Kubernetes service lb portal"',
    'ip saddr != 10.244.0.0/16 ip daddr . meta l4proto . th dport @cluster-ip jump mark-for-masquerade comment "Kubernetes service cluster ip + port for masquerade purpose"',
    'ip daddr . meta l4proto . th dport @external-ip jump mark-for-masquerade comment "Kubernetes service external ip + port for masquerade and filter purpose"',
    'ip daddr . meta l4proto . th dport @external-ip meta iifkind != "bridge" fib saddr type != local accept comment "Kubernetes service external ip + port for masquerade and filter purpose"',
    'ip daddr . meta l4proto . th dport @external-ip fib daddr type local accept comment "Kubernetes service external ip + port for masquerade and filter purpose"',
    'ip daddr . meta l4proto . th dport @external-ip-local meta iifkind != "bridge" fib saddr type != local accept comment "Kubernetes service external ip + port with externalTrafficPolicy=local"',
    'ip daddr . meta l4proto . th dport @external-ip-local fib daddr type local accept comment "Kubernetes service external ip + port with externalTrafficPolicy=local"',
    "fib daddr type local jump node-port",
    "ip daddr . meta l4proto . th dport @cluster-ip accept",
    "ip daddr . meta l4proto . th dport @load-balancer accept",
  ]);
});

Deno.test("nft rendering: masquerade, marks, node ports, firewall, out-filter", () => {
  assert.deepEqual(chain("masquerading"), [
    'ip daddr . meta l4proto . th dport . ip saddr @loop-back masquerade comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"',
    "meta mark & 0x00004000 != 0x00004000 return",
    "meta mark set meta mark ^ 0x00004000",
    'masquerade fully-random comment "kubernetes service traffic requiring SNAT"',
  ]);
  assert.deepEqual(chain("mark-for-masquerade"), ["meta mark set meta mark | 0x00004000"]);
  assert.deepEqual(chain("node-port"), [
    'tcp dport @node-port-local-tcp return comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local"',
    'tcp dport @node-port-tcp jump mark-for-masquerade comment "Kubernetes nodeport TCP port for masquerade purpose"',
  ]);
  assert.deepEqual(chain("source-ranges-firewall"), [
    'ip daddr . ip protocol . th dport . ip saddr @load-balancer-source-cidr return comment "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"',
    'ip daddr . meta l4proto . th dport . ip saddr @load-balancer-source-ip return comment "Kubernetes service load balancer ip + port + source IP for packet filter purpose"',
    "drop",
  ]);
  // 203.0.113.10 has source ranges without the node: the node's own traffic to it is dropped.
  assert.deepEqual(chain("ipvs-out-filter"), [
    "ip saddr 203.0.113.10 meta l4proto tcp ct original ip daddr 203.0.113.10 ct original proto-dst 80 drop",
  ]);
  assert.deepEqual(chain("ipvs-filter").at(-1), "ct state new ip daddr @ipvs-ips reject");
  assert.deepEqual(chain("services", 6)[0], "ip6 saddr ::1 return");
  // Without a cluster CIDR: node traffic leaving with a VIP as source is masqueraded.
  const noCidr = { ...SCENARIO_CONFIG, clusterCIDRs: [], masqueradeBit: 13 };
  assert.equal(
    chain("services", 4, noCidr)[2],
    'ip saddr . meta l4proto . th dport @cluster-ip jump mark-for-masquerade comment "Kubernetes service cluster ip + port for masquerade purpose"',
  );
});

Deno.test("nft layout: base chains at the iptables tables' priorities, jumps in iptables' order", () => {
  const b = Object.fromEntries(baseChains().map((c) => [c.name, c]));
  assert.deepEqual(Object.keys(b), [
    "nat-output",
    "nat-prerouting",
    "nat-postrouting",
    "filter-forward",
    "filter-input",
    "filter-output",
  ]);
  assert.equal(b["nat-prerouting"]!.priority, "dstnat");
  assert.equal(b["nat-output"]!.priority, "-100");
  assert.equal(b["nat-postrouting"]!.priority, "srcnat");
  assert.deepEqual(b["filter-input"]!.jumps.map((j) => j.to), [
    "ipvs-filter",
    "proxy-firewall",
    "health-check-node-port",
  ]);
});

Deno.test("nft elements: ipset members in nft's notation; overlapping networks left out", () => {
  assert.equal(elementText("hash:ip,port", member("10.96.0.1,tcp:443")), "10.96.0.1 . tcp . 443");
  assert.equal(elementText("bitmap:port", member("30080")), "30080");
  assert.equal(
    elementText("hash:ip,port,net", member("203.0.113.10,tcp:80,10.0.0.0/8")),
    "203.0.113.10 . tcp . 80 . 10.0.0.0/8",
  );
  assert.equal(
    elementText("hash:ip,port,net", member("203.0.113.10,tcp:80,192.168.1.5/32")),
    "203.0.113.10 . tcp . 80 . 192.168.1.5",
  );
  const kept = intervalMembers([
    member("203.0.113.10,tcp:80,10.0.0.0/8"),
    member("203.0.113.10,tcp:80,10.1.0.0/16"),
    member("203.0.113.10,tcp:80,10.1.2.3/32"),
    member("203.0.113.11,tcp:80,10.1.0.0/16"),
  ]).map((m) => m.key);
  assert.deepEqual(kept, ["203.0.113.10,tcp:80,10.0.0.0/8", "203.0.113.11,tcp:80,10.1.0.0/16"]);
});

Deno.test("nft script: nothing when the table matches, only the differences otherwise", () => {
  const want = table();
  const held = parseNftTable(listText(want), 4);
  assert.equal(nftScript(want, held).script, "");
  // A missing table is declared whole, in one script.
  const fresh = nftScript(want).script;
  assert.match(fresh, /^add table ip kipvs \{ comment "kipvs: kube-proxy IPVS-mode rules"; \}$/m);
  assert.match(
    fresh,
    /^add chain ip kipvs nat-prerouting \{ type nat hook prerouting priority dstnat; policy accept; \}$/m,
  );
  // An element gone and a rule added by hand: the element back, the chain rewritten.
  const drifted = parseNftTable(listText(want), 4);
  const ci = drifted.sets.find((s) => s.name === "cluster-ip")!;
  ci.elements = ci.elements.filter((e) => e !== "10.96.0.11 . udp . 53");
  drifted.chains.find((c) => c.name === "services")!.rules.push("counter");
  const s = nftScript(want, drifted);
  assert.deepEqual(s.script.trimEnd().split("\n").slice(0, 2), [
    "add element ip kipvs cluster-ip { 10.96.0.11 . udp . 53 }",
    "flush chain ip kipvs services",
  ]);
  assert.equal(s.elements, 1);
  // A set of another type cannot be changed in place: the table is declared again, atomically.
  const wrong = parseNftTable(listText(want), 4);
  wrong.sets[0]!.type = "ipv4_addr";
  assert.match(nftScript(want, wrong).script, /^delete table ip kipvs\nadd table ip kipvs/);
});

Deno.test("nft listing parses back: wrapped elements, base chain headers", () => {
  const text = `table ip kipvs {
\tset cluster-ip {
\t\ttype ipv4_addr . inet_proto . inet_service
\t\tcomment "c"
\t\telements = { 10.96.0.10 . udp . 53,
\t\t\t     10.96.0.10 . tcp . 80 }
\t}

\tchain nat-prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tjump services comment "kubernetes service portals"
\t}
}
`;
  const t = parseNftTable(text, 4);
  assert.deepEqual(t.sets[0]!.elements, ["10.96.0.10 . udp . 53", "10.96.0.10 . tcp . 80"]);
  assert.equal(t.chains[0]!.header, "type nat hook prerouting priority dstnat; policy accept;");
  assert.deepEqual(t.chains[0]!.rules, ['jump services comment "kubernetes service portals"']);
});

import { elementTextOf } from "../../../src/dataplane/nftables/netlink.ts";

Deno.test("nft element keys read back over netlink print as nft prints them", () => {
  const k = (...b: number[]) => new Uint8Array(b);
  assert.equal(elementTextOf("bitmap:port", 4, k(0x75, 0x30)), "30000");
  assert.equal(elementTextOf("hash:ip", 4, k(10, 96, 0, 1)), "10.96.0.1");
  assert.equal(
    elementTextOf("hash:ip,port", 4, k(10, 96, 0, 1, 6, 0, 0, 0, 1, 187, 0, 0)),
    "10.96.0.1 . tcp . 443",
  );
  const lb = [203, 0, 113, 10, 6, 0, 0, 0, 0, 80, 0, 0];
  assert.equal(
    elementTextOf("hash:ip,port,net", 4, k(...lb, 10, 0, 0, 0), k(...lb, 10, 255, 255, 255)),
    "203.0.113.10 . tcp . 80 . 10.0.0.0/8",
  );
  assert.equal(
    elementTextOf("hash:ip,port,net", 4, k(...lb, 192, 168, 1, 5), k(...lb, 192, 168, 1, 5)),
    "203.0.113.10 . tcp . 80 . 192.168.1.5",
  );
  const v6 = new Uint8Array(16 + 8 + 16);
  v6.set([0xfd, 0, 0, 0x96], 0);
  v6[15] = 0x10;
  v6[16] = 17;
  v6[21] = 53;
  v6.set([0xfd, 0, 2, 0x44], 24);
  v6[39] = 2;
  assert.equal(elementTextOf("hash:ip,port,ip", 6, v6), "fd00:96::10 . udp . 53 . fd00:244::2");
});
