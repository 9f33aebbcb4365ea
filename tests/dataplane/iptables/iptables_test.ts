import { member } from "../ipset/_ops.ts";
import assert from "node:assert/strict";
import { FakeExec } from "../../../src/dataplane/exec.ts";
import { FakeIpset } from "../ipset/fake.ts";
import { IpsetModel } from "../ipset/model.ts";
import { cleanupIptables } from "../../../src/dataplane/iptables/cleanup.ts";
import { FakeIptables, iptablesExecAnswer } from "./fake.ts";
import {
  iptablesRestoreError,
  KernelIptables,
  versionHasRandomFully,
} from "../../../src/dataplane/iptables/iptables.ts";
import { IptablesModel } from "./model.ts";
import { syncSetsAndRules } from "../../reconcile/_sets_and_rules.ts";
import { KipvsError } from "../../../src/errors.ts";
import { SCENARIO_CONFIG, scenarioSets } from "./_scenario.ts";

Deno.test("KernelIptables runs the backend's save and restore -w 5 --noflush", async () => {
  const model = new IptablesModel();
  const exec = new FakeExec(iptablesExecAnswer(model));
  const ipt = new KernelIptables({ exec, backend: "legacy" });
  await ipt.restore(6, "*filter\n:KUBE-X - [0:0]\nCOMMIT\n");
  assert.ok((await ipt.save(6)).get("filter")!.has("KUBE-X"));
  assert.equal(await ipt.hasRandomFully(), true);
  assert.equal(await ipt.hasRandomFully(), true);
  await ipt.restore(4, "");
  assert.deepEqual(exec.calls.map((c) => [c.program, ...c.args]), [
    ["ip6tables-legacy-restore", "-w", "5", "--noflush"],
    ["ip6tables-legacy-save"],
    ["iptables-legacy-save", "--version"],
  ]);
  const nft = new KernelIptables({ exec, backend: "nft" });
  await nft.save(4);
  assert.equal(exec.calls.at(-1)!.program, "iptables-nft-save");
});

Deno.test("versionHasRandomFully() needs iptables 1.6.2", () => {
  assert.equal(versionHasRandomFully("iptables-save v1.8.9 (legacy)"), true);
  assert.equal(versionHasRandomFully("iptables-save v1.6.2"), true);
  assert.equal(versionHasRandomFully("iptables-save v1.6.1"), false);
  assert.equal(versionHasRandomFully("garbage"), false);
});

Deno.test("KernelIptables names the program and the line a restore failed at", async () => {
  const ipt = new KernelIptables({
    exec: new FakeExec(iptablesExecAnswer(new IptablesModel())),
    backend: "legacy",
  });
  const payload = "*filter\n:KUBE-A - [0:0]\n-A KUBE-A -j ACCEPT\n-A KUBE-A -j KUBE-NOPE\n" +
    "-A KUBE-A -j DROP\nCOMMIT\n";
  const err = await ipt.restore(4, payload).catch((e) => e);
  assert.ok(err instanceof KipvsError);
  assert.equal(err.code, "exec");
  assert.equal(err.details.program, "iptables-legacy-restore");
  assert.equal(err.details.line, 4);
  assert.equal(
    err.message,
    [
      "iptables-legacy-restore failed at line 4: Couldn't load target `KUBE-NOPE':No such file or directory",
      "  2 | :KUBE-A - [0:0]",
      "  3 | -A KUBE-A -j ACCEPT",
      "> 4 | -A KUBE-A -j KUBE-NOPE",
      "  5 | -A KUBE-A -j DROP",
      "  6 | COMMIT",
    ].join("\n"),
  );
});

Deno.test("iptablesRestoreError() reads both ways iptables-restore names a line", () => {
  const payload = "*filter\n-X KUBE-IPVS-FILTER\nCOMMIT\n";
  const a = iptablesRestoreError("iptables-legacy-restore", payload, {
    code: 1,
    stderr: "iptables-restore: line 2 failed\n",
  });
  assert.equal(a.details.line, 2);
  assert.match(a.message, /^iptables-legacy-restore failed at line 2: line 2 failed\n/);
  const b = iptablesRestoreError("ip6tables-legacy-restore", payload, {
    code: 2,
    stderr: "ip6tables-restore v1.8.9 (legacy): Set NOPE doesn't exist.\n\n" +
      "Error occurred at line: 3\nTry `ip6tables-restore -h' for more information.\n",
  });
  assert.equal(b.details.line, 3);
  assert.match(b.message, /^ip6tables-legacy-restore failed at line 3: Set NOPE doesn't exist\.\n/);
  // As iptables-nft-restore 1.8.9 printed it in the test kernel.
  const c = iptablesRestoreError("iptables-nft-restore", payload, {
    code: 4,
    stderr: "iptables-nft-restore v1.8.9 (nf_tables): \n" +
      "line 2: TABLE_ADD failed (Operation not supported): table filter\n" +
      "line 2: CHAIN_USER_ADD failed (No such file or directory): chain KUBE-FORWARD\n",
  });
  assert.equal(c.details.line, 2);
  assert.match(c.message, /^iptables-nft-restore failed at line 2: line 2: TABLE_ADD failed/);
  // iptables-nft-restore blames a table's COMMIT for a missing jump target: the jump is shown.
  const jump = "*filter\n:KUBE-A - [0:0]\n-A KUBE-A -j ACCEPT\n-A KUBE-A -j KUBE-NOPE\nCOMMIT\n";
  const nft = {
    code: 2,
    stderr: "iptables-nft-restore v1.8.9 (nf_tables): Chain 'KUBE-NOPE' does not exist\n" +
      "Error occurred at line: 5\nTry `iptables-nft-restore -h' for more information.\n",
  };
  const d = iptablesRestoreError("iptables-nft-restore", jump, nft);
  assert.equal(d.details.line, 4);
  assert.equal(
    d.message,
    "iptables-nft-restore failed at line 4: Chain 'KUBE-NOPE' does not exist\n" +
      "  2 | :KUBE-A - [0:0]\n  3 | -A KUBE-A -j ACCEPT\n> 4 | -A KUBE-A -j KUBE-NOPE\n  5 | COMMIT",
  );
  // Without such a rule in the block, the COMMIT stays the line named.
  const none = iptablesRestoreError("iptables-nft-restore", "*nat\nCOMMIT\n", {
    ...nft,
    stderr: nft.stderr.replace("line: 5", "line: 2"),
  });
  assert.equal(none.details.line, 2);
});

Deno.test("IptablesModel commits a table block all or nothing", () => {
  const m = new IptablesModel();
  const r = m.restore(4, "*filter\n:KUBE-A - [0:0]\n-A KUBE-A -j KUBE-NOPE\nCOMMIT\n");
  assert.equal(r.code, 2);
  assert.equal(m.saveText(4), "");
  m.setExists = (n) => n === "S";
  assert.equal(
    m.restore(4, "*filter\n:KUBE-A - [0:0]\n-A KUBE-A -m set --match-set T dst -j ACCEPT\nCOMMIT\n")
      .code,
    2,
  );
  assert.equal(
    m.restore(4, "*filter\n:KUBE-A - [0:0]\n-A KUBE-A -m set --match-set S dst -j ACCEPT\nCOMMIT\n")
      .code,
    0,
  );
  assert.equal(m.usesSet("S"), true);
  assert.deepEqual(m.restore(4, "*filter\n-X INPUT\nCOMMIT\n"), {
    code: 1,
    stdout: "",
    stderr: "iptables-restore: line 2 failed\n",
  });
});

Deno.test("syncSetsAndRules() writes sets then rules once, and nothing on a rerun", async () => {
  const ipsetModel = new IpsetModel();
  const iptModel = new IptablesModel();
  iptModel.setExists = (n) => ipsetModel.sets.has(n);
  ipsetModel.isReferenced = (n) => iptModel.usesSet(n);
  const ipset = new FakeIpset(ipsetModel);
  const iptables = new FakeIptables({ model: iptModel });
  const desired = { ipsets: scenarioSets(), families: [4, 6] as (4 | 6)[] };
  const first = await syncSetsAndRules({ ipset, iptables, desired, config: SCENARIO_CONFIG });
  assert.equal(first.writes, 3, "one ipset restore, one iptables-restore per family");
  assert.equal(first.ipset.created.length, 34);
  const again = await syncSetsAndRules({ ipset, iptables, desired, config: SCENARIO_CONFIG });
  assert.equal(again.writes, 0);
  assert.deepEqual([ipset.restores.length, iptables.restores.length], [1, 2]);
});

Deno.test("syncSetsAndRules() can trust the snapshot of the previous sync instead of ipset save", async () => {
  const ipset = new FakeIpset();
  const iptables = new FakeIptables();
  const desired = { ipsets: scenarioSets(), families: [4] as (4 | 6)[] };
  const first = await syncSetsAndRules({ ipset, iptables, desired, config: SCENARIO_CONFIG });
  const saved = await ipset.save();
  const view = (s: typeof saved) =>
    [...s.values()].map((k) => [
      k.name,
      k.type,
      [k.options.family, k.options.hashsize, k.options.maxelem, k.options.range],
      [...k.members.keys()].sort(),
    ]);
  assert.deepEqual(view(first.ipsetSnapshot), view(saved));
  ipset.saves = 0;
  desired.ipsets.get("KUBE-CLUSTER-IP")!.set("10.96.0.99,tcp:80", member("10.96.0.99,tcp:80"));
  const next = await syncSetsAndRules({
    ipset,
    iptables,
    desired,
    config: SCENARIO_CONFIG,
    ipsetSnapshot: first.ipsetSnapshot,
  });
  assert.equal(ipset.saves, 0);
  assert.equal(ipset.restores.at(-1), "add KUBE-CLUSTER-IP 10.96.0.99,tcp:80\n");
  assert.deepEqual(view(next.ipsetSnapshot), view(await ipset.save()));
});

Deno.test("syncSetsAndRules() unhooks the rules of a wrongly typed set to recreate it", async () => {
  const ipsetModel = new IpsetModel();
  const iptModel = new IptablesModel();
  iptModel.setExists = (n) => ipsetModel.sets.has(n);
  ipsetModel.isReferenced = (n) => iptModel.usesSet(n);
  const ipset = new FakeIpset(ipsetModel);
  const iptables = new FakeIptables({ model: iptModel });
  const desired = { ipsets: scenarioSets(), families: [4] as (4 | 6)[] };
  await syncSetsAndRules({ ipset, iptables, desired, config: SCENARIO_CONFIG });
  // Someone replaced KUBE-IPVS-IPS by a set of another type (while no rule used it).
  ipsetModel.isReferenced = () => false;
  const replaced = ipsetModel.restore("destroy KUBE-IPVS-IPS\ncreate KUBE-IPVS-IPS hash:ip,port\n");
  assert.equal(replaced.code, 0, replaced.stderr);
  ipsetModel.isReferenced = (n) => iptModel.usesSet(n);
  const r = await syncSetsAndRules({ ipset, iptables, desired, config: SCENARIO_CONFIG });
  assert.deepEqual(r.ipset.recreated, ["KUBE-IPVS-IPS"]);
  assert.deepEqual(r.unhooked, ["4/filter/KUBE-IPVS-FILTER"]);
  assert.equal(r.writes, 3);
  assert.equal(ipsetModel.sets.get("KUBE-IPVS-IPS")!.type, "hash:ip");
  assert.equal(ipsetModel.sets.get("KUBE-IPVS-IPS")!.entries.size, 7);
  const again = await syncSetsAndRules({ ipset, iptables, desired, config: SCENARIO_CONFIG });
  assert.equal(again.writes, 0);
});

Deno.test("cleanupIptables() removes our chains and every jump into them, and nothing else", async () => {
  const ipt = new FakeIptables();
  await syncSetsAndRules({
    ipset: new FakeIpset(),
    iptables: ipt,
    desired: { ipsets: scenarioSets(), families: [4] },
    config: SCENARIO_CONFIG,
  });
  await ipt.restore(
    4,
    "*filter\n:MINE - [0:0]\n-A MINE -j KUBE-FORWARD\n-A MINE -j ACCEPT\n-A INPUT -j MINE\nCOMMIT\n",
  );
  const plan = await cleanupIptables(ipt, 4);
  assert.equal(plan.chains.length, 11);
  assert.equal(plan.jumps.length, 10);
  const after = ipt.model.saveText(4);
  assert.doesNotMatch(after, /KUBE-/);
  assert.match(after, /^-A MINE -j ACCEPT$/m);
  assert.match(after, /^-A INPUT -j MINE$/m);
  const again = await cleanupIptables(ipt, 4);
  assert.equal(again.payload, "");
});
