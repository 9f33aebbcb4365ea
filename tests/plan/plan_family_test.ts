// Scenario tests of plan() across IP families: dual-stack services (one plan per family),
// IPv6 set names and canonical addresses, SCTP node ports keyed by node address.
import assert from "node:assert/strict";
import { plan, planService } from "../../src/plan/plan.ts";
import { cluster, ctx, dump, lines, planDump, slice, svc } from "./_fixtures.ts";

const DUAL = [
  svc({
    name: "web",
    type: "NodePort",
    // Not canonical on purpose: the plan prints what ipset save and ipvsadm -Sn print.
    ips: ["10.96.0.10", "FD00:96:0::10"],
    ports: [{ nodePort: 30080 }],
  }),
  slice({ service: "web", endpoints: ["10.244.1.2@node-a"] }),
  slice({ service: "web", endpoints: ["fd00:244::1:2@node-a", "fd00:244:0:0::2:3@node-b"] }),
];

Deno.test("plan() plans a dual-stack service once per family, with KUBE-6- sets", () => {
  assert.deepEqual(
    planDump(DUAL),
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http
    rs TCP/10.96.0.10:80 10.244.1.2:8080 local
    vs TCP/192.168.1.10:30080 rr node-port default/web:http
    rs TCP/192.168.1.10:30080 10.244.1.2:8080 local
    vs TCP/[fd00:96::10]:80 rr cluster-ip default/web:http
    rs TCP/[fd00:96::10]:80 [fd00:244::1:2]:8080 local
    rs TCP/[fd00:96::10]:80 [fd00:244::2:3]:8080
    vs TCP/[fd00:1::10]:30080 rr node-port default/web:http
    rs TCP/[fd00:1::10]:30080 [fd00:244::1:2]:8080 local
    rs TCP/[fd00:1::10]:30080 [fd00:244::2:3]:8080
    addr 10.96.0.10
    addr fd00:96::10
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
    set KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2
    set KUBE-NODE-PORT-TCP 30080
    set KUBE-6-CLUSTER-IP fd00:96::10,tcp:80
    set KUBE-6-IPVS-IPS fd00:96::10
    set KUBE-6-LOOP-BACK fd00:244::1:2,tcp:8080,fd00:244::1:2
    set KUBE-6-NODE-PORT-TCP 30080
  `),
  );
});

Deno.test("plan() plans only the families the node proxies", () => {
  const v4 = planDump(DUAL, { families: [4] });
  assert.ok(v4.length > 0 && v4.every((l) => !l.includes("fd00") && !l.includes("KUBE-6-")));
  const v6only = svc({ name: "v6", ips: ["fd00:96::20"] });
  assert.equal(planService(v6only, [], ctx({ families: [4] })), undefined);
  assert.ok(planService(v6only, [], ctx({ families: [6] })));
});

Deno.test("plan() picks each family's cluster IP by ipFamilies order, primary IPv6 included", () => {
  const s = svc({ name: "web", ips: ["fd00:96::10", "10.96.0.10"] });
  const p = planService(s, [], ctx())!;
  assert.deepEqual(p.addresses, ["10.96.0.10", "fd00:96::10"]);
  assert.deepEqual(p.virtualServers.map((v) => `${v.family} ${v.address}`), [
    "4 10.96.0.10",
    "6 fd00:96::10",
  ]);
});

Deno.test("plan() keys SCTP node-port sets by node address, per family, with cut IPv6 names", () => {
  const got = planDump([
    svc({
      name: "sctp",
      type: "NodePort",
      etp: "Local",
      ips: ["10.96.0.10", "fd00:96::10"],
      ports: [{ name: "sctp", protocol: "SCTP", port: 9999, nodePort: 30999 }],
    }),
  ], { node: { nodePortAddresses: { 4: ["10.0.0.10", "192.168.1.10"], 6: ["fd00:1::10"] } } })
    .filter((l) => l.startsWith("set "));
  assert.deepEqual(
    got,
    lines(`
    set KUBE-CLUSTER-IP 10.96.0.10,sctp:9999
    set KUBE-IPVS-IPS 10.96.0.10
    set KUBE-NODE-PORT-SCTP-HASH 10.0.0.10,sctp:30999
    set KUBE-NODE-PORT-SCTP-HASH 192.168.1.10,sctp:30999
    set KUBE-NODE-PORT-LOCAL-SCTP-HASH 10.0.0.10,sctp:30999
    set KUBE-NODE-PORT-LOCAL-SCTP-HASH 192.168.1.10,sctp:30999
    set KUBE-6-CLUSTER-IP fd00:96::10,sctp:9999
    set KUBE-6-IPVS-IPS fd00:96::10
    set KUBE-6-NODE-PORT-SCTP-HASH fd00:1::10,sctp:30999
    set KUBE-6-NODE-PORT-LOCAL-SCTP-HAS fd00:1::10,sctp:30999
  `),
  );
});

Deno.test("plan() serves UDP node ports from the UDP bitmap set", () => {
  const got = planDump([
    svc({
      name: "dns",
      type: "NodePort",
      etp: "Local",
      ports: [{ name: "dns", protocol: "UDP", port: 53, nodePort: 30053 }],
    }),
  ]).filter((l) => l.includes("NODE-PORT"));
  assert.deepEqual(got, [
    "set KUBE-NODE-PORT-LOCAL-UDP 30053",
    "set KUBE-NODE-PORT-UDP 30053",
  ]);
});

Deno.test("plan() counts a dual-stack service without local endpoints once per family", () => {
  const state = plan(
    cluster(
      svc({ name: "web", itp: "Local", ips: ["10.96.0.10", "fd00:96::10"] }),
      slice({ service: "web", endpoints: ["10.244.2.3@node-b"] }),
      slice({ service: "web", endpoints: ["fd00:244::2:3@node-b"] }),
    ),
    ctx(),
  );
  assert.deepEqual(state.noLocalEndpoints, { internal: 2, external: 0 });
  assert.ok(dump(state).every((l) => !l.startsWith("rs ")));
});
