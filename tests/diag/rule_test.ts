import assert from "node:assert/strict";
import { parseRule, splitWords } from "../../src/diag/rule.ts";

Deno.test("splitWords() undoes iptables-save's double quotes and backslash escapes", () => {
  assert.deepEqual(
    splitWords(`-A X -m comment --comment "a \\"quoted\\" \\\\ word" -j ACCEPT`),
    ["-A", "X", "-m", "comment", "--comment", `a "quoted" \\ word`, "-j", "ACCEPT"],
  );
  assert.deepEqual(splitWords(`-A X -m comment --comment "" -j DROP`), [
    "-A",
    "X",
    "-m",
    "comment",
    "--comment",
    "",
    "-j",
    "DROP",
  ]);
});

Deno.test("parseRule() splits kube-proxy's cluster IP rule into negated basic and set clauses", () => {
  const r = parseRule(
    `-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ`,
  )!;
  assert.equal(r.chain, "KUBE-SERVICES");
  assert.deepEqual(r.clauses, [
    { module: "", option: "s", negated: true, args: ["10.244.0.0/16"] },
    {
      module: "comment",
      option: "comment",
      negated: false,
      args: ["Kubernetes service cluster ip + port for masquerade purpose"],
    },
    { module: "set", option: "match-set", negated: false, args: ["KUBE-CLUSTER-IP", "dst,dst"] },
  ]);
  assert.deepEqual(r.target, { name: "KUBE-MARK-MASQ", goto: false, args: [] });
});

Deno.test("parseRule() keeps target options, flag options without values, and -g gotos", () => {
  const reject = parseRule(
    "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable",
  )!;
  assert.deepEqual(reject.target, {
    name: "REJECT",
    goto: false,
    args: ["--reject-with", "icmp-port-unreachable"],
  });
  const phys = parseRule(
    "-A KUBE-SERVICES -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT",
  )!;
  assert.deepEqual(phys.clauses, [
    { module: "physdev", option: "physdev-is-in", negated: true, args: [] },
    { module: "addrtype", option: "src-type", negated: true, args: ["LOCAL"] },
  ]);
  assert.deepEqual(parseRule("-A A -p tcp -g B")!.target, { name: "B", goto: true, args: [] });
  assert.equal(parseRule("-A A -s 10.0.0.1/32")!.target, undefined, "a counting-only rule");
  assert.equal(parseRule(":KUBE-SERVICES - [0:0]"), undefined);
});
