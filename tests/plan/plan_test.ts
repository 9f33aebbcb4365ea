// Scenario tests of plan(): objects in, the node's desired dataplane out as sorted lines (see
// dump() in _fixtures.ts). Expected lines follow kube-proxy's IPVS proxier (syncProxyRules).
import assert from "node:assert/strict";
import { KUBE_SETS, setName } from "../../src/dataplane/ipset/sets.ts";
import { HEADLESS_LABEL, SERVICE_PROXY_NAME_LABEL } from "../../src/k8s/types.ts";
import { plan, planService } from "../../src/plan/plan.ts";
import { cluster, ctx, lines, planDump, slice, svc } from "./_fixtures.ts";

Deno.test("plan() gives a ClusterIP service a virtual server, its endpoints and its sets", () => {
  const got = planDump([
    svc({ name: "web" }),
    slice({ service: "web", endpoints: ["10.244.1.2@node-a", "10.244.2.3@node-b"] }),
  ]);
  assert.deepEqual(
    got,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http
    rs TCP/10.96.0.10:80 10.244.1.2:8080 local
    rs TCP/10.96.0.10:80 10.244.2.3:8080
    addr 10.96.0.10
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
    # hairpin: only the endpoint on this node
    set KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2
  `),
  );
});

Deno.test("plan() takes each port's target from the slice port of the same name and protocol", () => {
  const got = planDump([
    svc({
      name: "dns",
      ips: ["10.96.0.53"],
      ports: [
        { name: "dns", protocol: "UDP", port: 53 },
        { name: "dns-tcp", protocol: "TCP", port: 53 },
        { name: "metrics", protocol: "TCP", port: 9153 },
      ],
    }),
    slice({
      service: "dns",
      ports: [
        { name: "dns", protocol: "UDP", port: 5353 },
        { name: "dns-tcp", protocol: "TCP", port: 5353 },
        // Same name, other protocol: not the metrics port's target.
        { name: "metrics", protocol: "UDP", port: 9153 },
      ],
      endpoints: ["10.244.2.5@node-b"],
    }),
  ]);
  assert.deepEqual(
    got,
    lines(`
    vs UDP/10.96.0.53:53 rr cluster-ip default/dns:dns
    rs UDP/10.96.0.53:53 10.244.2.5:5353
    vs TCP/10.96.0.53:53 rr cluster-ip default/dns:dns-tcp
    rs TCP/10.96.0.53:53 10.244.2.5:5353
    vs TCP/10.96.0.53:9153 rr cluster-ip default/dns:metrics
    addr 10.96.0.53
    set KUBE-CLUSTER-IP 10.96.0.53,udp:53
    set KUBE-CLUSTER-IP 10.96.0.53,tcp:53
    set KUBE-CLUSTER-IP 10.96.0.53,tcp:9153
    set KUBE-IPVS-IPS 10.96.0.53
  `),
  );
});

Deno.test("plan() uses ready endpoints only while any is ready; hairpin covers every local one", () => {
  const got = planDump([
    svc({ name: "web" }),
    slice({
      service: "web",
      endpoints: [
        "10.244.1.1@node-b",
        { ip: "10.244.1.2", node: "node-b", ready: false, serving: false }, // starting
        { ip: "10.244.1.3", node: "node-b", terminating: true, serving: true },
        { ip: "10.244.1.4", node: "node-a", ready: false, serving: false }, // local, starting
      ],
    }),
  ]);
  assert.deepEqual(
    got,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http
    rs TCP/10.96.0.10:80 10.244.1.1:8080
    addr 10.96.0.10
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
    set KUBE-LOOP-BACK 10.244.1.4,tcp:8080,10.244.1.4
  `),
  );
});

Deno.test("plan() falls back to serving terminating endpoints when none is ready", () => {
  const got = planDump([
    svc({ name: "web" }),
    slice({
      service: "web",
      endpoints: [
        { ip: "10.244.1.2", node: "node-b", ready: false, serving: false },
        { ip: "10.244.1.3", node: "node-b", terminating: true, serving: true },
        { ip: "10.244.1.5", node: "node-b", terminating: true, serving: false },
      ],
    }),
  ]).filter((l) => l.startsWith("rs "));
  assert.deepEqual(got, ["rs TCP/10.96.0.10:80 10.244.1.3:8080"]);
});

Deno.test("plan() keeps an endpoint found in two slices once, preferring the non-terminating copy", () => {
  const got = planDump([
    svc({ name: "web" }),
    slice({
      service: "web",
      name: "web-a",
      endpoints: ["10.244.1.2@node-b", { ip: "10.244.1.1", node: "node-b", terminating: true }],
    }),
    // A new pod that reuses a terminating pod's IP, and an endpoint moving between slices.
    slice({ service: "web", name: "web-b", endpoints: ["10.244.1.1@node-b", "10.244.1.2@node-b"] }),
    slice({
      service: "web",
      name: "web-c",
      endpoints: [{ ip: "10.244.1.2", node: "node-b", terminating: true, serving: true }],
    }),
  ]).filter((l) => l.startsWith("rs "));
  assert.deepEqual(got, [
    "rs TCP/10.96.0.10:80 10.244.1.1:8080",
    "rs TCP/10.96.0.10:80 10.244.1.2:8080",
  ]);
});

Deno.test("plan() maps ClientIP affinity to a persistent virtual server on every address", () => {
  const got = planDump([
    svc({
      name: "web",
      type: "NodePort",
      affinity: 600,
      externalIPs: ["198.51.100.5"],
      ports: [{ nodePort: 30080 }],
    }),
  ]).filter((l) => l.startsWith("vs "));
  assert.deepEqual(
    got,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http persistent 600
    vs TCP/198.51.100.5:80 rr external-ip default/web:http persistent 600
    vs TCP/192.168.1.10:30080 rr node-port default/web:http persistent 600
  `),
  );
});

Deno.test("plan() takes the scheduler from --ipvs-scheduler", () => {
  const got = planDump([svc({ name: "web" })], { scheduler: "lc" });
  assert.ok(got.includes("vs TCP/10.96.0.10:80 lc cluster-ip default/web:http"), got.join("\n"));
});

Deno.test("plan() skips headless, ExternalName and labelled services, and headless slices", () => {
  const c = ctx();
  const skipped = [
    svc({ name: "headless", ips: ["None"] }),
    svc({ name: "unset", ips: [""] }),
    svc({ name: "extname", type: "ExternalName", ips: ["10.96.0.99"] }),
    svc({ name: "other-proxy", ips: ["10.96.0.98"], labels: { [SERVICE_PROXY_NAME_LABEL]: "x" } }),
    svc({ name: "labelled", ips: ["10.96.0.97"], labels: { [HEADLESS_LABEL]: "" } }),
  ];
  for (const s of skipped) assert.equal(planService(s, [], c), undefined, s.metadata.name);
  const got = planDump([
    ...skipped,
    svc({ name: "web" }),
    // kube-proxy's informers never see a slice labelled headless.
    slice({ service: "web", endpoints: ["10.244.1.2@node-b"], labels: { [HEADLESS_LABEL]: "" } }),
  ]);
  assert.deepEqual(
    got,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http
    addr 10.96.0.10
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
  `),
  );
});

Deno.test("plan() gives a service without endpoints its virtual servers with no real servers", () => {
  const got = planDump([svc({ name: "empty", type: "NodePort", ports: [{ nodePort: 30080 }] })]);
  assert.deepEqual(
    got,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/empty:http
    vs TCP/192.168.1.10:30080 rr node-port default/empty:http
    addr 10.96.0.10
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
    set KUBE-NODE-PORT-TCP 30080
  `),
  );
});

Deno.test("plan() creates every kube-proxy set of each planned family, empty or not", () => {
  const both = plan(cluster(), ctx());
  const names = [4, 6].flatMap((f) => KUBE_SETS.map((s) => setName(s.base, f as 4 | 6)));
  assert.deepEqual([...both.ipsets.keys()].sort(), names.sort());
  assert.ok(both.ipsets.has("KUBE-6-LOAD-BALANCER-SOURCE-CID"), "IPv6 names are cut to 31");
  assert.ok(both.ipsets.has("KUBE-6-NODE-PORT-LOCAL-SCTP-HAS"));
  for (const name of both.ipsets.keys()) assert.ok(name.length <= 31, name);
  assert.deepEqual(both.families, [4, 6]);
  const v4 = plan(cluster(), ctx({ families: [4] }));
  assert.equal(v4.ipsets.size, KUBE_SETS.length);
  assert.ok([...v4.ipsets.values()].every((s) => s.size === 0));
});
