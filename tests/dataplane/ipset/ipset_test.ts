import { members, opsOf } from "./_ops.ts";
import assert from "node:assert/strict";
import { FakeExec } from "../../../src/dataplane/exec.ts";
import { destroyKubeSets, kubeSetsIn } from "../../../src/dataplane/ipset/cleanup.ts";
import { FakeIpset, ipsetExecAnswer } from "./fake.ts";
import { ipsetRestoreError, KernelIpset } from "../../../src/dataplane/ipset/ipset.ts";
import { IpsetModel } from "./model.ts";
import { parseIpsetSave } from "../../../src/dataplane/ipset/save.ts";
import { IpsetReconciler } from "../../../src/reconcile/ipset_reconciler.ts";
import { emptyReport } from "../../../src/reconcile/report.ts";
import type { DesiredState } from "../../../src/plan/desired.ts";
import { KipvsError } from "../../../src/errors.ts";

// What ipset 7.17 printed in the test kernel.
const SAVED =
  `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x8c30c262
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
add KUBE-CLUSTER-IP 10.96.0.10,udp:53
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30080
create KUBE-6-LOAD-BALANCER-SOURCE-CID hash:ip,port,net family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0x77fea83a
add KUBE-6-LOAD-BALANCER-SOURCE-CID fd00::10,tcp:80,fd00:100::5
create other hash:ip family inet hashsize 64 maxelem 10 counters comment
add other 1.2.3.4 packets 0 bytes 0 comment "x y"
`;

Deno.test("parseIpsetSave() reads sets, their typed options and members", () => {
  const s = parseIpsetSave(SAVED);
  assert.deepEqual([...s.keys()], [
    "KUBE-CLUSTER-IP",
    "KUBE-NODE-PORT-TCP",
    "KUBE-6-LOAD-BALANCER-SOURCE-CID",
    "other",
  ]);
  const cip = s.get("KUBE-CLUSTER-IP")!;
  assert.equal(cip.type, "hash:ip,port");
  assert.deepEqual(cip.options, {
    family: 4,
    hashsize: 1024,
    maxelem: 65536,
    other: ["bucketsize 12", "initval 0x8c30c262"],
  });
  assert.deepEqual(cip.members, members("10.96.0.1,tcp:443", "10.96.0.10,udp:53"));
  assert.deepEqual(cip.members.get("10.96.0.10,udp:53")?.protocol, "udp");
  assert.deepEqual(s.get("KUBE-NODE-PORT-TCP")!.options.range, [0, 65535]);
  const cidr = s.get("KUBE-6-LOAD-BALANCER-SOURCE-CID")!.members;
  assert.deepEqual([...cidr.values()].map((m) => [m.ip2, m.cidr2]), [["fd00:100::5", 128]]);
  assert.deepEqual([...s.get("other")!.members.keys()], ["1.2.3.4"]);
  assert.deepEqual(s.get("other")!.options.other, ["counters", "comment"]);
  assert.deepEqual(kubeSetsIn(s), [
    "KUBE-CLUSTER-IP",
    "KUBE-NODE-PORT-TCP",
    "KUBE-6-LOAD-BALANCER-SOURCE-CID",
  ]);
});

Deno.test("parseIpsetSave() names the line it cannot read", () => {
  assert.throws(
    () => parseIpsetSave("create A hash:ip\nadd B 1.2.3.4\n"),
    (e) =>
      e instanceof KipvsError && e.code === "exec" && /line 2 "add B 1\.2\.3\.4"/.test(e.message),
  );
});

Deno.test("KernelIpset runs one ipset save and one ipset restore -exist with the payload on stdin", async () => {
  const model = new IpsetModel();
  const exec = new FakeExec(ipsetExecAnswer(model));
  const ipset = new KernelIpset(exec);
  await ipset.apply(
    opsOf("create A hash:ip family inet hashsize 1024 maxelem 65536\nadd A 10.0.0.1\n"),
  );
  await ipset.apply(opsOf(""));
  const saved = await ipset.save();
  assert.deepEqual([...saved.get("A")!.members.keys()], ["10.0.0.1"]);
  assert.deepEqual(exec.calls.map((c) => [c.program, ...c.args]), [
    ["ipset", "restore", "-exist"],
    ["ipset", "save"],
  ]);
  assert.match(exec.calls[0]!.stdin!, /^create A hash:ip/);
});

Deno.test("KernelIpset reports the failing restore line with its neighbours", async () => {
  const model = new IpsetModel();
  const ipset = new KernelIpset(new FakeExec(ipsetExecAnswer(model)));
  const payload = [
    "create A hash:ip,port family inet hashsize 1024 maxelem 65536",
    "add A 10.0.0.1,tcp:80",
    "add B 10.0.0.2,tcp:80",
    "add A 10.0.0.3,tcp:80",
    "add A 10.0.0.4,tcp:80",
    "add A 10.0.0.5,tcp:80",
  ].join("\n") + "\n";
  const err = await ipset.apply(opsOf(payload)).catch((e) => e);
  assert.ok(err instanceof KipvsError);
  assert.equal(err.code, "exec");
  assert.equal(err.details.line, 3);
  assert.equal(
    err.message,
    [
      "ipset restore failed at line 3: The set with the given name does not exist",
      "  1 | create A hash:ip,port family inet hashsize 1024 maxelem 65536",
      "  2 | add A 10.0.0.1,tcp:80",
      "> 3 | add B 10.0.0.2,tcp:80",
      "  4 | add A 10.0.0.3,tcp:80",
      "  5 | add A 10.0.0.4,tcp:80",
    ].join("\n"),
  );
  // Like ipset: the set was created, but the add batched with the failing line was dropped.
  assert.deepEqual([...model.sets.get("A")!.entries], []);
});

Deno.test("ipsetRestoreError() finds the line of a syntax error ipset does not number", () => {
  const payload = "add A 10.0.0.2,tcp:80\nadd A 10.0.0.3,tcp:99999\nadd A 10.0.0.4,tcp:80\n";
  const stderr = "ipset v7.17: Syntax error: '99999' is out of range 0-65535\n";
  const err = ipsetRestoreError(payload, stderr, 1);
  assert.equal(err.details.line, 2);
  assert.match(
    err.message,
    /^ipset restore failed at line 2: Syntax error: '99999' is out of range/,
  );
  assert.match(err.message, /^> 2 \| add A 10\.0\.0\.3,tcp:99999$/m);
  const none = ipsetRestoreError(
    payload,
    "ipset v7.17: Kernel error received: ipset protocol error\n",
    1,
  );
  assert.equal(none.message, "ipset restore failed: Kernel error received: ipset protocol error");
});

Deno.test("IpsetModel sends batches like ipset: a kernel refusal keeps the entries before it", () => {
  const m = new IpsetModel();
  const r = m.restore("create X hash:ip\nadd X 1.1.1.1\nadd X 1.1.1.1\nadd X 1.1.1.2\n");
  assert.equal(
    r.stderr,
    "ipset v7.17: Error in line 3: Element cannot be added to the set: it's already added\n",
  );
  assert.deepEqual([...m.sets.get("X")!.entries], ["1.1.1.1"]);
  m.restore("create Y hash:ip\nadd X 5.5.5.5\nadd Y 6.6.6.6\nadd NOPE 1.1.1.1\n", { exist: true });
  assert.deepEqual([...m.sets.get("X")!.entries], ["1.1.1.1", "5.5.5.5"]);
  assert.deepEqual([...m.sets.get("Y")!.entries], []);
  assert.equal(m.restore("destroy NOPE\n", { exist: true }).code, 0);
  assert.equal(m.restore("frob X\n").code, 2);
});

Deno.test("IpsetModel answers like ipset 7.17 for the refusals kipvs can meet", () => {
  const m = new IpsetModel();
  const ok = m.restore(
    "create A hash:ip,port family inet hashsize 1024 maxelem 2\nadd A 1.1.1.1,tcp:1\n",
  );
  assert.equal(ok.code, 0);
  const cases: [string, boolean, string][] = [
    [
      "create A hash:ip,port family inet hashsize 1024 maxelem 2",
      false,
      "Error in line 1: Set cannot be created: set with the same name already exists",
    ],
    [
      "create A hash:ip family inet",
      true,
      "Error in line 1: Set cannot be created: set with the same name already exists",
    ],
    [
      "add A 1.1.1.1,tcp:1",
      false,
      "Error in line 1: Element cannot be added to the set: it's already added",
    ],
    [
      "del A 9.9.9.9,tcp:1",
      false,
      "Error in line 1: Element cannot be deleted from the set: it's not added",
    ],
    ["add NOPE 1.2.3.4", true, "Error in line 1: The set with the given name does not exist"],
    [
      "\nadd A 1.1.1.2,tcp:1\nadd A 1.1.1.3,tcp:1",
      true,
      "Error in line 3: Hash is full, cannot add more elements",
    ],
  ];
  for (const [payload, exist, msg] of cases) {
    const r = m.restore(payload, { exist });
    assert.equal(r.code, 1, payload);
    assert.equal(r.stderr, `ipset v7.17: ${msg}\n`, payload);
  }
  assert.equal(
    m.restore("create A hash:ip,port family inet hashsize 1024 maxelem 2", { exist: true }).code,
    0,
  );
  assert.equal(m.restore("add A 1.1.1.2,tcp:1\ndel A 9.9.9.9,tcp:1", { exist: true }).code, 0);
  assert.match(
    m.restore("add A 1.1.1.1,tcp:99999").stderr,
    /^ipset v7\.17: Syntax error: '1\.1\.1\.1,tcp:99999'/,
  );
  m.isReferenced = (n) => n === "A";
  assert.equal(
    m.restore("destroy A").stderr,
    "ipset v7.17: Error in line 1: Set cannot be destroyed: it is in use by a kernel component\n",
  );
});

Deno.test("IpsetReconciler writes differences once, then nothing", async () => {
  const ipset = new FakeIpset();
  const sets = new IpsetReconciler({ ipset });
  const ipsets = new Map([["KUBE-CLUSTER-IP", members("10.96.0.10,tcp:80")]]);
  const sync = async () => {
    const report = emptyReport(true);
    const desired = { ipsets, families: [4, 6] } as unknown as DesiredState;
    const writes = await sets.update({ desired, report, failures: [], record: true });
    return { report, writes: writes ?? [] };
  };
  const first = await sync();
  assert.equal(first.report.ipsetRestores, 1);
  assert.equal(sets.lastPlan!.created.length, 34);
  assert.equal(first.writes.filter((w) => w.action === "add" && !w.parent).length, 34);
  const second = await sync();
  assert.deepEqual([second.report.ipsetRestores, second.writes], [0, []]);
  assert.equal(ipset.restores.length, 1);
  ipsets.set("KUBE-CLUSTER-IP", members("10.96.0.11,tcp:80"));
  const third = await sync();
  assert.deepEqual(
    ipset.restores.at(-1),
    "del KUBE-CLUSTER-IP 10.96.0.10,tcp:80\nadd KUBE-CLUSTER-IP 10.96.0.11,tcp:80\n",
  );
  assert.deepEqual(third.writes, [
    {
      kind: "ipset",
      action: "delete",
      object: "KUBE-CLUSTER-IP 10.96.0.10,tcp:80",
      parent: "KUBE-CLUSTER-IP",
    },
    {
      kind: "ipset",
      action: "add",
      object: "KUBE-CLUSTER-IP 10.96.0.11,tcp:80",
      parent: "KUBE-CLUSTER-IP",
    },
  ]);
});

Deno.test("destroyKubeSets() destroys kube-proxy's sets only, refusing those still in use", async () => {
  const ipset = new FakeIpset();
  await ipset.apply(opsOf(
    "create KUBE-CLUSTER-IP hash:ip,port\ncreate KUBE-6-IPVS-IPS hash:ip family inet6\ncreate mine hash:ip\n",
  ));
  ipset.model.isReferenced = (n) => n === "KUBE-6-IPVS-IPS";
  const err = await destroyKubeSets(ipset).catch((e) => e);
  assert.ok(err instanceof KipvsError);
  assert.match(err.message, /at line 2: Set cannot be destroyed: it is in use/);
  assert.match(err.message, /> 2 \| destroy KUBE-6-IPVS-IPS/);
  ipset.model.isReferenced = () => false;
  assert.deepEqual(await destroyKubeSets(ipset), ["KUBE-6-IPVS-IPS"]);
  assert.deepEqual([...ipset.model.sets.keys()], ["mine"]);
});
