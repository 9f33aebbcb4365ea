import { setsOf } from "../dataplane/ipset/_ops.ts";
import { restoreText } from "../../src/dataplane/ipset/ops.ts";
import assert from "node:assert/strict";
import { planIpsetRestore } from "../../src/reconcile/ipset_restore.ts";
import { parseIpsetSave } from "../../src/dataplane/ipset/save.ts";
import { setName } from "../../src/dataplane/ipset/sets.ts";
import { createLine, familySpecs, setSpec } from "../../src/dataplane/ipset/spec.ts";
import { KipvsError } from "../../src/errors.ts";

const desired = setsOf;

// Every IPv4 set, existing and empty, as ipset 7.17 prints them.
function savedV4(extra = ""): string {
  const lines = familySpecs(4).map((s) =>
    createLine(s) + (s.type === "bitmap:port" ? "" : " bucketsize 12 initval 0x12345678")
  );
  return lines.join("\n") + "\n" + extra;
}

Deno.test("setName() cuts IPv6 names to ipset's 31 characters, as kube-proxy does", () => {
  assert.equal(setName("KUBE-CLUSTER-IP", 6), "KUBE-6-CLUSTER-IP");
  assert.equal(setName("KUBE-LOAD-BALANCER-SOURCE-CIDR", 6), "KUBE-6-LOAD-BALANCER-SOURCE-CID");
  assert.equal(setName("KUBE-NODE-PORT-LOCAL-SCTP-HASH", 6), "KUBE-6-NODE-PORT-LOCAL-SCTP-HAS");
  assert.equal(setName("KUBE-LOAD-BALANCER-SOURCE-CIDR", 4), "KUBE-LOAD-BALANCER-SOURCE-CIDR");
});

Deno.test("createLine() passes kube-proxy's create options", () => {
  assert.equal(
    createLine(setSpec("KUBE-CLUSTER-IP")!),
    "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536",
  );
  assert.equal(
    createLine(setSpec("KUBE-6-LOAD-BALANCER-SOURCE-CID")!),
    "create KUBE-6-LOAD-BALANCER-SOURCE-CID hash:ip,port,net family inet6 hashsize 1024 maxelem 65536",
  );
  assert.equal(
    createLine(setSpec("KUBE-6-NODE-PORT-TCP")!),
    "create KUBE-6-NODE-PORT-TCP bitmap:port range 0-65535",
  );
  assert.equal(setSpec("KUBE-6-IPVS-IPS")?.create.family, 6);
  assert.equal(setSpec("OTHER"), undefined);
});

Deno.test("planIpsetRestore() on an empty kernel creates every set of the family, then adds", () => {
  const plan = planIpsetRestore({
    desired: desired({ "KUBE-CLUSTER-IP": ["10.96.0.10,tcp:80", "10.96.0.1,tcp:443"] }),
    families: [4],
    current: new Map(),
  });
  const lines = restoreText(plan.ops).trimEnd().split("\n");
  assert.equal(plan.created.length, 17);
  assert.equal(lines.filter((l) => l.startsWith("create ")).length, 17);
  assert.equal(
    lines[0],
    "create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536",
  );
  assert.deepEqual(lines.filter((l) => l.startsWith("add ")), [
    "add KUBE-CLUSTER-IP 10.96.0.1,tcp:443",
    "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80",
  ]);
  assert.equal(plan.added, 2);
});

Deno.test("planIpsetRestore() writes nothing when the kernel already holds the same entries", () => {
  const current = parseIpsetSave(savedV4(
    "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80\nadd KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.10,tcp:80,192.168.100.10\n",
  ));
  const plan = planIpsetRestore({
    // Same members, their text written differently: upper-case protocol, a /32 network.
    desired: desired({
      "KUBE-CLUSTER-IP": ["10.96.0.10,TCP:80"],
      "KUBE-LOAD-BALANCER-SOURCE-CIDR": ["203.0.113.10,tcp:80,192.168.100.10/32"],
    }),
    families: [4],
    current,
  });
  assert.equal(restoreText(plan.ops), "");
  assert.deepEqual([plan.added, plan.deleted, plan.created.length], [0, 0, 0]);
});

Deno.test("planIpsetRestore() adds missing and deletes stale entries, never flushing", () => {
  const current = parseIpsetSave(savedV4(
    "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80\nadd KUBE-CLUSTER-IP 10.96.0.99,tcp:80\nadd KUBE-NODE-PORT-TCP 30080\n",
  ));
  const plan = planIpsetRestore({
    desired: desired({
      "KUBE-CLUSTER-IP": ["10.96.0.10,tcp:80", "10.96.0.11,udp:53"],
      "KUBE-NODE-PORT-TCP": ["30080"],
    }),
    families: [4],
    current,
  });
  assert.equal(
    restoreText(plan.ops),
    "del KUBE-CLUSTER-IP 10.96.0.99,tcp:80\nadd KUBE-CLUSTER-IP 10.96.0.11,udp:53\n",
  );
  assert.doesNotMatch(restoreText(plan.ops), /flush|destroy|create/);
});

Deno.test("planIpsetRestore() recreates a set of the wrong type, family or range", () => {
  const current = parseIpsetSave(
    savedV4()
      .replace(
        "create KUBE-CLUSTER-IP hash:ip,port family inet",
        "create KUBE-CLUSTER-IP hash:ip family inet",
      )
      .replace("KUBE-IPVS-IPS hash:ip family inet ", "KUBE-IPVS-IPS hash:ip family inet6 ")
      .replace(
        "KUBE-NODE-PORT-UDP bitmap:port range 0-65535",
        "KUBE-NODE-PORT-UDP bitmap:port range 30000-32767",
      ) +
      "add KUBE-CLUSTER-IP 10.96.0.10\n",
  );
  const plan = planIpsetRestore({
    desired: desired({ "KUBE-CLUSTER-IP": ["10.96.0.10,tcp:80"] }),
    families: [4],
    current,
  });
  assert.deepEqual(plan.recreated, ["KUBE-CLUSTER-IP", "KUBE-NODE-PORT-UDP", "KUBE-IPVS-IPS"]);
  assert.equal(
    restoreText(plan.ops),
    [
      "destroy KUBE-CLUSTER-IP",
      "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536",
      "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80",
      "destroy KUBE-NODE-PORT-UDP",
      "create KUBE-NODE-PORT-UDP bitmap:port range 0-65535",
      "destroy KUBE-IPVS-IPS",
      "create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536",
      "",
    ].join("\n"),
  );
});

Deno.test("planIpsetRestore() adopts a grown hash size and ignores sets that are not kube-proxy's", () => {
  const current = parseIpsetSave(
    savedV4().replace(
      "KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024",
      "KUBE-CLUSTER-IP hash:ip,port family inet hashsize 4096",
    ) + "create cali40all-hosts hash:net family inet hashsize 1024 maxelem 1048576\n" +
      "add cali40all-hosts 10.0.0.0/8\n",
  );
  const plan = planIpsetRestore({ desired: new Map(), families: [4], current });
  assert.equal(restoreText(plan.ops), "");
});

Deno.test("planIpsetRestore() refuses a set name kube-proxy never uses", () => {
  assert.throws(
    () =>
      planIpsetRestore({ desired: desired({ "KUBE-NOPE": [] }), families: [], current: new Map() }),
    (e) => e instanceof KipvsError && e.code === "internal" && /"KUBE-NOPE"/.test(e.message),
  );
});
