import { setsOf } from "../dataplane/ipset/_ops.ts";
import assert from "node:assert/strict";
import { KipvsError } from "../../src/errors.ts";
import { localCidr, masqueradeMark, planRules, type RulesOptions } from "../../src/plan/rules.ts";
import {
  renderIptables,
  renderRule,
  rulesPayload,
  saveQuote,
} from "../../src/dataplane/iptables/render.ts";
import { SCENARIO_CONFIG, scenarioSets } from "../dataplane/iptables/_scenario.ts";

const render = (o: RulesOptions) => renderIptables(planRules(o));

// Written by hand from kube-proxy's writeIptablesRules, in iptables-save's normalised form.
const GOLDEN_V4 = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN
-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER
-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m addrtype --dst-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m addrtype --dst-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-LOAD-BALANCER -m comment --comment "Kubernetes service load balancer ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
COMMIT
*filter
:KUBE-FORWARD - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SOURCE-RANGES-FIREWALL - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL
-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source cidr for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN
-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source IP for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN
-A KUBE-SOURCE-RANGES-FIREWALL -j DROP
-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable
-A KUBE-IPVS-OUT-FILTER -s 203.0.113.10/32 -m ipvs --vproto 6 --vaddr 203.0.113.10 --vport 80 -j DROP
COMMIT
`;

const GOLDEN_V6 = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A KUBE-SERVICES -s ::1/128 -j RETURN
-A KUBE-SERVICES ! -s fd00:10:244::/56 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
COMMIT
*filter
:KUBE-FORWARD - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SOURCE-RANGES-FIREWALL - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-6-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
-A KUBE-SOURCE-RANGES-FIREWALL -j DROP
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-LOAD-BALANCER dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-EXTERNAL-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-HEALTH-CHECK-NODE-PORT dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-6-IPVS-IPS dst -j REJECT --reject-with icmp6-port-unreachable
COMMIT
`;

Deno.test("planRules() + renderIptables() renders kube-proxy's IPv4 rules for the fixed scenario", () => {
  const rules = render({ family: 4, config: SCENARIO_CONFIG, ipsets: scenarioSets() });
  assert.equal(rulesPayload(rules), GOLDEN_V4);
});

Deno.test("planRules() + renderIptables() renders IPv6 rules with KUBE-6- sets, ::1 and icmp6", () => {
  const rules = render({ family: 6, config: SCENARIO_CONFIG, ipsets: scenarioSets() });
  assert.equal(rulesPayload(rules), GOLDEN_V6);
});

Deno.test("planRules() + renderIptables() jumps from the built-in chains in kube-proxy's order", () => {
  const rules = render({ family: 4, config: SCENARIO_CONFIG, ipsets: new Map() });
  assert.deepEqual(rules.jumps.map((j) => `${j.rule.table} ${j.line}`), [
    `nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
    `nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
    `nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`,
    `filter -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`,
    `filter -A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT`,
    `filter -A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL`,
    `filter -A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL`,
    `filter -A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER`,
    `filter -A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER`,
  ]);
});

const clusterIpMasq = (config: Partial<typeof SCENARIO_CONFIG>) =>
  render({ family: 4, config: { ...SCENARIO_CONFIG, ...config }, ipsets: scenarioSets() })
    .tables.nat.rules.get("KUBE-SERVICES")!.filter((l) =>
      l.includes("--match-set KUBE-CLUSTER-IP") && l.endsWith("KUBE-MARK-MASQ")
    );

Deno.test("planRules() + renderIptables() with --masquerade-all marks all cluster IP traffic", () => {
  assert.deepEqual(clusterIpMasq({ masqueradeAll: true }), [
    `-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ`,
  ]);
});

Deno.test("planRules() + renderIptables() without a cluster CIDR masquerades node traffic sourced from a VIP", () => {
  assert.deepEqual(clusterIpMasq({ clusterCIDRs: ["fd00:10:244::/56"] }), [
    `-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ`,
  ]);
});

Deno.test("planRules() + renderIptables() uses the family's first cluster CIDR with host bits cleared", () => {
  const [rule] = clusterIpMasq({ clusterCIDRs: ["fd00::/8", "10.244.7.1/16", "10.0.0.0/8"] });
  assert.match(rule!, /^-A KUBE-SERVICES ! -s 10\.244\.0\.0\/16 -m comment/);
});

Deno.test("planRules() + renderIptables() takes the mark from --masquerade-bit", () => {
  const rules = render({
    family: 4,
    config: { ...SCENARIO_CONFIG, masqueradeBit: 31 },
    ipsets: new Map(),
  });
  assert.deepEqual(rules.tables.nat.rules.get("KUBE-MARK-MASQ"), [
    "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x80000000/0x80000000",
  ]);
});

Deno.test("planRules() + renderIptables() leaves --random-fully out when iptables lacks it", () => {
  const rules = render({
    family: 4,
    config: SCENARIO_CONFIG,
    ipsets: new Map(),
    randomFully: false,
  });
  assert.equal(
    rules.tables.nat.rules.get("KUBE-POSTROUTING")!.at(-1),
    `-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`,
  );
});

Deno.test("planRules() + renderIptables() with empty sets keeps only the unconditional rules", () => {
  const rules = render({ family: 4, config: SCENARIO_CONFIG, ipsets: new Map() });
  assert.deepEqual(rules.tables.nat.rules.get("KUBE-SERVICES"), [
    "-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN",
    "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
  ]);
  assert.deepEqual(rules.tables.nat.rules.get("KUBE-NODE-PORT"), []);
  assert.deepEqual(rules.tables.filter.rules.get("KUBE-PROXY-FIREWALL"), []);
  assert.deepEqual(rules.tables.filter.rules.get("KUBE-IPVS-OUT-FILTER"), []);
  assert.equal(rules.tables.filter.rules.get("KUBE-IPVS-FILTER")!.length, 6);
});

Deno.test("planRules() + renderIptables() writes SCTP node ports with ip,port matches and UDP before SCTP", () => {
  const sets = setsOf({
    "KUBE-NODE-PORT-UDP": ["30053"],
    "KUBE-NODE-PORT-SCTP-HASH": ["192.168.100.1,sctp:30099"],
    "KUBE-NODE-PORT-LOCAL-SCTP-HASH": ["192.168.100.1,sctp:30099"],
  });
  const rules = render({ family: 4, config: SCENARIO_CONFIG, ipsets: sets });
  assert.deepEqual(rules.tables.nat.rules.get("KUBE-NODE-PORT"), [
    `-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ`,
    `-A KUBE-NODE-PORT -p sctp -m comment --comment "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type \\'hash ip:port\\'" -m set --match-set KUBE-NODE-PORT-LOCAL-SCTP-HASH dst,dst -j RETURN`,
    `-A KUBE-NODE-PORT -p sctp -m comment --comment "Kubernetes nodeport SCTP port for masquerade purpose with type \\'hash ip:port\\'" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ`,
  ]);
});

Deno.test("planRules() + renderIptables() drops node access to IPv6 LB IPs whose ranges exclude the node", () => {
  const sets = setsOf({
    "KUBE-6-LOAD-BALANCER-FW": ["fd00:0:0::20,udp:53", "fd00::21,tcp:80"],
    "KUBE-6-LOAD-BALANCER-SOURCE-IP": ["fd00::21,tcp:80,fd00::21"],
  });
  const rules = render({ family: 6, config: SCENARIO_CONFIG, ipsets: sets });
  assert.deepEqual(rules.tables.filter.rules.get("KUBE-IPVS-OUT-FILTER"), [
    "-A KUBE-IPVS-OUT-FILTER -s fd00::20/128 -m ipvs --vproto 17 --vaddr fd00::20 --vport 53 -j DROP",
  ]);
});

Deno.test("saveQuote() quotes and escapes like iptables-save", () => {
  assert.equal(saveQuote("plain_word-1"), "plain_word-1");
  assert.equal(saveQuote("two words"), `"two words"`);
  assert.equal(saveQuote(`it's "x"\\`), `"it\\'s \\"x\\"\\\\"`);
});

Deno.test("masqueradeMark() and localCidr() reject bad values with the field and value", () => {
  assert.equal(masqueradeMark(14), 0x4000);
  assert.equal(masqueradeMark(0), 1);
  assert.throws(
    () => masqueradeMark(32),
    (e) =>
      e instanceof KipvsError && e.code === "invalid-config" && /masqueradeBit 32/.test(e.message),
  );
  assert.throws(
    () => localCidr(["10.0.0.0/33"], 4),
    (e) => e instanceof KipvsError && /clusterCIDR "10\.0\.0\.0\/33"/.test(e.message),
  );
  assert.equal(localCidr(["10.0.0.0/8"], 6), undefined);
});

Deno.test("planRules() writes rules as data: matches in kube-proxy's order, no iptables syntax", () => {
  const set = planRules({ family: 4, config: SCENARIO_CONFIG, ipsets: scenarioSets() });
  const services = set.tables.nat.rules.get("KUBE-SERVICES")!;
  const masq = services.find((r) => r.matches.some((m) => m.kind === "source" && m.negate))!;
  assert.deepEqual(masq, {
    chain: "KUBE-SERVICES",
    matches: [
      { kind: "source", cidr: "10.244.0.0/16", negate: true },
      { kind: "comment", text: "Kubernetes service cluster ip + port for masquerade purpose" },
      { kind: "set", set: "KUBE-CLUSTER-IP", directions: "dst,dst" },
    ],
    verdict: { kind: "jump", chain: "KUBE-MARK-MASQ" },
  });
  const out = set.tables.filter.rules.get("KUBE-IPVS-OUT-FILTER")!;
  assert.deepEqual(out[0]!.matches, [
    { kind: "source", cidr: "203.0.113.10" },
    { kind: "ipvs", protocol: "tcp", address: "203.0.113.10", port: 80 },
  ]);
  assert.equal(
    renderRule(out[0]!, 4),
    "-A KUBE-IPVS-OUT-FILTER -s 203.0.113.10/32 -m ipvs --vproto 6 --vaddr 203.0.113.10 --vport 80 -j DROP",
  );
});
