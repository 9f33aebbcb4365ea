import { member, setsOf } from "../dataplane/ipset/_ops.ts";
import { restoreText } from "../../src/dataplane/ipset/ops.ts";
import assert from "node:assert/strict";
import { planIpsetDelta } from "../../src/reconcile/ipset_delta.ts";
import { parseIpsetSave } from "../../src/dataplane/ipset/save.ts";
import { createLine, familySpecs } from "../../src/dataplane/ipset/spec.ts";

const desired = setsOf;

function saved(extra: string): ReturnType<typeof parseIpsetSave> {
  return parseIpsetSave(familySpecs(4).map(createLine).join("\n") + "\n" + extra);
}

Deno.test("planIpsetDelta() writes only the touched members that differ", () => {
  const current = saved(
    "add KUBE-CLUSTER-IP 10.96.0.1,tcp:443\nadd KUBE-CLUSTER-IP 10.96.0.2,tcp:80\n" +
      "add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2\n",
  );
  const d = planIpsetDelta({
    desired: desired({
      "KUBE-CLUSTER-IP": ["10.96.0.1,tcp:443", "10.96.0.3,udp:53"],
      "KUBE-LOOP-BACK": ["10.244.1.2,tcp:8080,10.244.1.2"],
    }),
    touched: [
      { set: "KUBE-CLUSTER-IP", member: member("10.96.0.2,tcp:80") },
      { set: "KUBE-CLUSTER-IP", member: member("10.96.0.3,udp:53") },
      { set: "KUBE-CLUSTER-IP", member: member("10.96.0.3,udp:53") },
      // Touched, but the kernel already has it as wanted: no line.
      { set: "KUBE-LOOP-BACK", member: member("10.244.1.2,tcp:8080,10.244.1.2") },
    ],
    current,
  });
  assert.ok(d);
  assert.equal(
    restoreText(d.ops),
    "del KUBE-CLUSTER-IP 10.96.0.2,tcp:80\nadd KUBE-CLUSTER-IP 10.96.0.3,udp:53\n",
  );
  assert.deepEqual([d.added, d.deleted], [1, 1]);
  assert.deepEqual([...current.get("KUBE-CLUSTER-IP")!.members.keys()].sort(), [
    "10.96.0.1,tcp:443",
    "10.96.0.2,tcp:80",
  ], "the snapshot changes only on commit");
  d.commit();
  assert.deepEqual([...current.get("KUBE-CLUSTER-IP")!.members.keys()].sort(), [
    "10.96.0.1,tcp:443",
    "10.96.0.3,udp:53",
  ]);
});

Deno.test("planIpsetDelta() gives up on a missing or wrongly typed set, which needs a full restore", () => {
  const touched = [{ set: "KUBE-CLUSTER-IP", member: member("10.96.0.1,tcp:443") }];
  const want = desired({ "KUBE-CLUSTER-IP": ["10.96.0.1,tcp:443"] });
  assert.equal(planIpsetDelta({ desired: want, touched, current: new Map() }), undefined);
  const wrong = parseIpsetSave("create KUBE-CLUSTER-IP hash:ip family inet hashsize 1024\n");
  assert.equal(planIpsetDelta({ desired: want, touched, current: wrong }), undefined);
});
