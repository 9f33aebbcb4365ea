// Scenario tests of plan() for traffic policies and service types: which endpoints each address
// gets, which sets each address lands in, health checks and the no-local-endpoints counts.
import assert from "node:assert/strict";
import { lines, planDump, slice, svc } from "./_fixtures.ts";

const TWO_NODES = ["10.244.1.2@node-a", "10.244.2.3@node-b"];

Deno.test("plan() sends internalTrafficPolicy Local cluster IP traffic to local endpoints only", () => {
  const got = planDump([
    svc({ name: "web", itp: "Local" }),
    slice({ service: "web", endpoints: TWO_NODES }),
  ]).filter((l) => l.startsWith("rs ") || l.startsWith("no-local"));
  assert.deepEqual(got, ["rs TCP/10.96.0.10:80 10.244.1.2:8080 local"]);
});

Deno.test("plan() leaves an internal-only Local service without local endpoints empty and counts it", () => {
  const got = planDump([
    svc({ name: "web", itp: "Local" }),
    slice({ service: "web", endpoints: ["10.244.2.3@node-b"] }),
  ]);
  assert.deepEqual(
    got,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http
    addr 10.96.0.10
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
    no-local internal=1 external=0
  `),
  );
});

Deno.test("plan() falls back to all endpoints for internal Local when the port is reachable from outside", () => {
  // The IPVS proxier's fallback (kubernetes#97081): Cluster endpoints exist for the node port,
  // so the cluster IP gets them too when no local endpoint exists.
  const got = planDump([
    svc({ name: "web", type: "NodePort", itp: "Local", ports: [{ nodePort: 30080 }] }),
    slice({ service: "web", endpoints: ["10.244.2.3@node-b"] }),
  ]);
  assert.deepEqual(
    got,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http
    rs TCP/10.96.0.10:80 10.244.2.3:8080
    vs TCP/192.168.1.10:30080 rr node-port default/web:http
    rs TCP/192.168.1.10:30080 10.244.2.3:8080
    addr 10.96.0.10
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
    set KUBE-NODE-PORT-TCP 30080
    no-local internal=1 external=0
  `),
  );
});

Deno.test("plan() puts only local endpoints behind externalTrafficPolicy Local node ports", () => {
  const got = planDump([
    svc({ name: "web", type: "NodePort", etp: "Local", ports: [{ nodePort: 30080 }] }),
    slice({ service: "web", endpoints: TWO_NODES }),
  ], { node: { nodePortAddresses: { 4: ["10.0.0.10", "192.168.1.10"], 6: [] } } });
  assert.deepEqual(
    got,
    lines(`
    # the cluster IP is not governed by externalTrafficPolicy
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http
    rs TCP/10.96.0.10:80 10.244.1.2:8080 local
    rs TCP/10.96.0.10:80 10.244.2.3:8080
    vs TCP/10.0.0.10:30080 rr node-port default/web:http
    rs TCP/10.0.0.10:30080 10.244.1.2:8080 local
    vs TCP/192.168.1.10:30080 rr node-port default/web:http
    rs TCP/192.168.1.10:30080 10.244.1.2:8080 local
    addr 10.96.0.10
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
    set KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2
    set KUBE-NODE-PORT-TCP 30080
    set KUBE-NODE-PORT-LOCAL-TCP 30080
  `),
  );
});

Deno.test("plan() falls back to all endpoints for external Local without local ones, and counts it", () => {
  const got = planDump([
    svc({ name: "web", type: "NodePort", etp: "Local", ports: [{ nodePort: 30080 }] }),
    slice({ service: "web", endpoints: ["10.244.2.3@node-b"] }),
  ]).filter((l) => l.startsWith("rs ") || l.startsWith("no-local"));
  assert.deepEqual(
    got,
    lines(`
    rs TCP/10.96.0.10:80 10.244.2.3:8080
    rs TCP/192.168.1.10:30080 10.244.2.3:8080
    no-local internal=0 external=1
  `),
  );
});

Deno.test("plan() serves a Local LoadBalancer: local endpoints, -LOCAL sets and a health check", () => {
  const got = planDump([
    svc({
      name: "web",
      type: "LoadBalancer",
      etp: "Local",
      hcnp: 32000,
      ports: [{ nodePort: 30080 }],
      ingress: [{ ip: "203.0.113.10" }],
    }),
    slice({
      service: "web",
      endpoints: [
        "10.244.1.2@node-a",
        "10.244.1.3@node-a",
        "10.244.2.3@node-b",
        { ip: "10.244.1.9", node: "node-a", ready: false, serving: false },
      ],
    }),
  ]);
  assert.deepEqual(
    got,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http
    rs TCP/10.96.0.10:80 10.244.1.2:8080 local
    rs TCP/10.96.0.10:80 10.244.1.3:8080 local
    rs TCP/10.96.0.10:80 10.244.2.3:8080
    vs TCP/203.0.113.10:80 rr load-balancer default/web:http
    rs TCP/203.0.113.10:80 10.244.1.2:8080 local
    rs TCP/203.0.113.10:80 10.244.1.3:8080 local
    vs TCP/192.168.1.10:30080 rr node-port default/web:http
    rs TCP/192.168.1.10:30080 10.244.1.2:8080 local
    rs TCP/192.168.1.10:30080 10.244.1.3:8080 local
    addr 10.96.0.10
    addr 203.0.113.10
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
    set KUBE-IPVS-IPS 203.0.113.10
    set KUBE-LOAD-BALANCER 203.0.113.10,tcp:80
    set KUBE-LOAD-BALANCER-LOCAL 203.0.113.10,tcp:80
    set KUBE-NODE-PORT-TCP 30080
    set KUBE-NODE-PORT-LOCAL-TCP 30080
    set KUBE-HEALTH-CHECK-NODE-PORT 32000
    set KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2
    set KUBE-LOOP-BACK 10.244.1.3,tcp:8080,10.244.1.3
    set KUBE-LOOP-BACK 10.244.1.9,tcp:8080,10.244.1.9
    # ready local endpoints only
    hc default/web 32000 local=2
  `),
  );
});

Deno.test("plan() fills the source-range sets, and the node's own IP when a range covers it", () => {
  const lb = (name: string, ip: string, lbIP: string, ranges: string[]) =>
    svc({
      name,
      type: "LoadBalancer",
      ips: [ip],
      sourceRanges: ranges,
      ingress: [{ ip: lbIP }],
    });
  const got = planDump([
    // Covers the node (192.168.1.10); the IPv6 range is the other family's; 10.1.2.3/8 is
    // 10.0.0.0/8 once its host bits are cleared.
    lb("lb1", "10.96.0.11", "203.0.113.10", [
      "192.168.1.0/24",
      " 198.51.100.7/32 ",
      "2001:db8::/64",
      "10.1.2.3/8",
    ]),
    lb("lb2", "10.96.0.12", "203.0.113.20", ["198.51.100.0/24"]),
  ]).filter((l) => l.startsWith("set KUBE-LOAD-BALANCER"));
  assert.deepEqual(
    got,
    lines(`
    set KUBE-LOAD-BALANCER 203.0.113.10,tcp:80
    set KUBE-LOAD-BALANCER 203.0.113.20,tcp:80
    set KUBE-LOAD-BALANCER-FW 203.0.113.10,tcp:80
    set KUBE-LOAD-BALANCER-FW 203.0.113.20,tcp:80
    set KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.10,tcp:80,192.168.1.0/24
    # a host range as ipset save prints it, without /32
    set KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.10,tcp:80,198.51.100.7
    set KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.10,tcp:80,10.0.0.0/8
    set KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.20,tcp:80,198.51.100.0/24
    set KUBE-LOAD-BALANCER-SOURCE-IP 203.0.113.10,tcp:80,203.0.113.10
  `),
  );
});

Deno.test("plan() proxies load balancer IPs of ipMode VIP or unset, of the service's families", () => {
  const ingress = [
    { ip: "203.0.113.10" },
    { ip: "203.0.113.11", ipMode: "VIP" as const },
    { ip: "203.0.113.12", ipMode: "Proxy" as const },
    { hostname: "lb.example.com" },
    { ip: "2001:db8::10" },
  ];
  const v4 = planDump([svc({ name: "web", type: "LoadBalancer", ingress })])
    .filter((l) => l.startsWith("vs "));
  assert.deepEqual(
    v4,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/web:http
    vs TCP/203.0.113.10:80 rr load-balancer default/web:http
    vs TCP/203.0.113.11:80 rr load-balancer default/web:http
  `),
  );
  const dual = planDump([
    svc({ name: "web", type: "LoadBalancer", ips: ["10.96.0.10", "fd00:96::10"], ingress }),
  ]).filter((l) => l.includes("load-balancer"));
  assert.ok(dual.includes("vs TCP/[2001:db8::10]:80 rr load-balancer default/web:http"));
});

Deno.test("plan() sorts external IPs by policy and binds only those the node does not hold", () => {
  const got = planDump([
    svc({ name: "ext", externalIPs: ["198.51.100.5", "192.168.1.10", "2001:db8::5"] }),
    svc({ name: "ext-local", ips: ["10.96.0.11"], etp: "Local", externalIPs: ["198.51.100.6"] }),
    slice({ service: "ext-local", endpoints: ["10.244.2.3@node-b"] }),
  ]);
  assert.deepEqual(
    got,
    lines(`
    vs TCP/10.96.0.10:80 rr cluster-ip default/ext:http
    vs TCP/198.51.100.5:80 rr external-ip default/ext:http
    # a node address: served where it is, not bound to kube-ipvs0
    vs TCP/192.168.1.10:80 rr external-ip default/ext:http
    vs TCP/10.96.0.11:80 rr cluster-ip default/ext-local:http
    rs TCP/10.96.0.11:80 10.244.2.3:8080
    vs TCP/198.51.100.6:80 rr external-ip default/ext-local:http
    rs TCP/198.51.100.6:80 10.244.2.3:8080
    addr 10.96.0.10
    addr 10.96.0.11
    addr 198.51.100.5
    addr 198.51.100.6
    set KUBE-CLUSTER-IP 10.96.0.10,tcp:80
    set KUBE-CLUSTER-IP 10.96.0.11,tcp:80
    set KUBE-EXTERNAL-IP 198.51.100.5,tcp:80
    set KUBE-EXTERNAL-IP 192.168.1.10,tcp:80
    set KUBE-EXTERNAL-IP-LOCAL 198.51.100.6,tcp:80
    set KUBE-IPVS-IPS 10.96.0.10
    set KUBE-IPVS-IPS 10.96.0.11
    set KUBE-IPVS-IPS 198.51.100.5
    set KUBE-IPVS-IPS 198.51.100.6
    no-local internal=0 external=1
  `),
  );
});

Deno.test("plan() skips node ports and their health check entry when no address serves node ports", () => {
  const got = planDump([
    svc({
      name: "web",
      type: "LoadBalancer",
      etp: "Local",
      hcnp: 32000,
      ports: [{ nodePort: 30080 }],
      ingress: [{ ip: "203.0.113.10" }],
    }),
  ], { node: { nodePortAddresses: { 4: [], 6: [] } } });
  assert.ok(!got.some((l) => l.includes("30080") || l.includes("HEALTH-CHECK")), got.join("\n"));
  assert.ok(got.includes("hc default/web 32000 local=0"), "the health check itself stays");
  assert.ok(got.includes("vs TCP/203.0.113.10:80 rr load-balancer default/web:http"));
});

Deno.test("plan() gives a health check only to LoadBalancer services with externalTrafficPolicy Local", () => {
  const got = planDump([
    svc({ name: "np", type: "NodePort", etp: "Local", hcnp: 32001, ports: [{ nodePort: 30081 }] }),
    svc({ name: "lb", ips: ["10.96.0.11"], type: "LoadBalancer", hcnp: 32002 }),
  ]);
  assert.ok(!got.some((l) => l.startsWith("hc ") || l.includes("HEALTH-CHECK")), got.join("\n"));
});
