// PlanMerge: the merged desired state kept one service at a time, with reference counts.
import { setMember } from "../../src/dataplane/members.ts";
import assert from "node:assert/strict";
import { PlanMerge } from "../../src/plan/merge.ts";
import { planService } from "../../src/plan/plan.ts";
import type { ServicePlan } from "../../src/plan/desired.ts";
import type { Service } from "../../src/k8s/types.ts";
import { ctx, dump, slice, svc } from "./_fixtures.ts";

const C = ctx();
const planOf = (s: Service, ...slices: ReturnType<typeof slice>[]): ServicePlan =>
  planService(s, slices, C) ?? assert.fail("no plan");

const A = planOf(svc({ name: "a", ips: ["10.96.0.1"], externalIPs: ["198.51.100.5"] }));
const B = planOf(
  svc({ name: "b", ips: ["10.96.0.2"], externalIPs: ["198.51.100.5"], ports: [{ port: 443 }] }),
);

Deno.test("PlanMerge keeps an external IP two services share until the last one goes", () => {
  const m = new PlanMerge({ families: [4] });
  const d1 = m.set("default/a", A);
  assert.deepEqual(d1.addressesAdded.sort(), ["10.96.0.1", "198.51.100.5"]);
  const d2 = m.set("default/b", B);
  assert.deepEqual(d2.addressesAdded, ["10.96.0.2"], "198.51.100.5 was already there");
  assert.deepEqual(
    dump(m.state).filter((l) => l.includes("198.51.100.5")),
    [
      "addr 198.51.100.5",
      "set KUBE-EXTERNAL-IP 198.51.100.5,tcp:443",
      "set KUBE-EXTERNAL-IP 198.51.100.5,tcp:80",
      "set KUBE-IPVS-IPS 198.51.100.5",
      "vs TCP/198.51.100.5:443 rr external-ip default/b:http",
      "vs TCP/198.51.100.5:80 rr external-ip default/a:http",
    ],
  );

  const d3 = m.delete("default/a");
  assert.deepEqual(d3.addressesRemoved, ["10.96.0.1"]);
  assert.ok(m.state.addresses.has("198.51.100.5"));
  assert.ok(m.state.ipsets.get("KUBE-IPVS-IPS")!.has("198.51.100.5"));
  assert.deepEqual(d3.virtualServers.sort(), ["TCP/10.96.0.1:80", "TCP/198.51.100.5:80"]);

  const d4 = m.delete("default/b");
  assert.deepEqual(d4.addressesRemoved.sort(), ["10.96.0.2", "198.51.100.5"]);
  assert.deepEqual(
    d4.entriesRemoved.map((e) => `${e.set} ${e.member.key}`).sort(),
    [
      "KUBE-CLUSTER-IP 10.96.0.2,tcp:443",
      "KUBE-EXTERNAL-IP 198.51.100.5,tcp:443",
      "KUBE-IPVS-IPS 10.96.0.2",
      "KUBE-IPVS-IPS 198.51.100.5",
    ],
  );
  assert.deepEqual(dump(m.state), []);
  assert.equal(m.size, 0);
});

Deno.test("PlanMerge reports nothing when a service's plan is set again unchanged", () => {
  const m = new PlanMerge({ families: [4] });
  m.set("default/a", A);
  const again = planOf(svc({ name: "a", ips: ["10.96.0.1"], externalIPs: ["198.51.100.5"] }));
  assert.notEqual(again, A);
  assert.deepEqual(m.set("default/a", again), {
    virtualServers: [],
    addressesAdded: [],
    addressesRemoved: [],
    entriesAdded: [],
    entriesRemoved: [],
    healthChecks: false,
  });
  assert.deepEqual(m.delete("default/nothing").virtualServers, []);
});

Deno.test("PlanMerge reports exactly the virtual servers and entries an endpoint change touches", () => {
  const m = new PlanMerge({ families: [4] });
  const web = svc({ name: "web" });
  m.set("default/web", planOf(web, slice({ service: "web", endpoints: ["10.244.1.2@node-b"] })));
  const d = m.set(
    "default/web",
    planOf(web, slice({ service: "web", endpoints: ["10.244.1.2@node-b", "10.244.1.3@node-a"] })),
  );
  assert.deepEqual(d.virtualServers, ["TCP/10.96.0.10:80"]);
  assert.deepEqual(d.entriesAdded, [
    {
      set: "KUBE-LOOP-BACK",
      member: setMember({ ip: "10.244.1.3", protocol: "tcp", port: 8080, ip2: "10.244.1.3" }),
    },
  ]);
  assert.deepEqual([d.entriesRemoved, d.addressesAdded, d.addressesRemoved], [[], [], []]);
  assert.equal(m.state.virtualServers.get("TCP/10.96.0.10:80")!.realServers.length, 2);
});

Deno.test("PlanMerge counts a hairpin entry two services share", () => {
  const m = new PlanMerge({ families: [4] });
  const ep = slice({ service: "x", endpoints: ["10.244.1.2@node-a"] });
  m.set("default/x", planOf(svc({ name: "x", ips: ["10.96.0.1"] }), ep));
  m.set("default/y", planOf(svc({ name: "y", ips: ["10.96.0.2"] }), { ...ep }));
  const d = m.delete("default/x");
  assert.ok(!d.entriesRemoved.some((e) => e.set === "KUBE-LOOP-BACK"));
  assert.ok(m.state.ipsets.get("KUBE-LOOP-BACK")!.has("10.244.1.2,tcp:8080,10.244.1.2"));
});

Deno.test("PlanMerge gives a contested virtual server to the first service by name, then the next", () => {
  const m = new PlanMerge({ families: [4] });
  const c = planOf(svc({ name: "c", ips: ["10.96.0.3"], externalIPs: ["198.51.100.5"] }));
  m.set("default/c", c);
  const d = m.set("default/a", A);
  assert.ok(d.virtualServers.includes("TCP/198.51.100.5:80"), "the owner changed");
  assert.deepEqual(m.owners("TCP/198.51.100.5:80"), ["default/a", "default/c"]);
  assert.equal(m.state.virtualServers.get("TCP/198.51.100.5:80")!.owner.name, "a");
  m.delete("default/a");
  assert.equal(m.state.virtualServers.get("TCP/198.51.100.5:80")!.owner.name, "c");
  assert.ok(m.state.addresses.has("198.51.100.5"));
});

Deno.test("PlanMerge sums no-local counts and lists health checks by service", () => {
  const m = new PlanMerge({ families: [4] });
  const lb = (name: string, ip: string, hc: number) =>
    planOf(
      svc({
        name,
        ips: [ip],
        type: "LoadBalancer",
        etp: "Local",
        hcnp: hc,
        ports: [{ nodePort: hc - 2000 }],
      }),
      slice({ service: name, endpoints: ["10.244.2.3@node-b"] }),
    );
  m.set("default/z", lb("z", "10.96.0.26", 32026));
  const d = m.set("default/m", lb("m", "10.96.0.13", 32013));
  assert.equal(d.healthChecks, true);
  assert.deepEqual(m.state.healthChecks.map((h) => `${h.name} ${h.nodePort}`), [
    "m 32013",
    "z 32026",
  ]);
  assert.deepEqual(m.state.noLocalEndpoints, { internal: 0, external: 2 });
  m.delete("default/z");
  assert.deepEqual(m.state.noLocalEndpoints, { internal: 0, external: 1 });
  assert.deepEqual(m.state.healthChecks.map((h) => h.name), ["m"]);
});

Deno.test("PlanMerge gives a contested virtual server to the oldest service, lists the conflict, and keeps the loser's other ports", () => {
  const m = new PlanMerge({ families: [4] });
  const at = (p: ServicePlan, iso: string): ServicePlan => ({ ...p, created: Date.parse(iso) });
  // b is older than a: it wins 198.51.100.5:80 although "a" sorts first.
  const a = planOf(svc({ name: "a", ips: ["10.96.0.1"], externalIPs: ["198.51.100.5"] }));
  const b = planOf(
    svc({
      name: "b",
      ips: ["10.96.0.2"],
      externalIPs: ["198.51.100.5"],
      ports: [{ port: 80 }, { port: 443, name: "https" }],
    }),
  );
  m.set("default/a", at(a, "2026-02-01T00:00:00Z"));
  m.set("default/b", at(b, "2026-01-01T00:00:00Z"));
  assert.deepEqual(m.owners("TCP/198.51.100.5:80"), ["default/b", "default/a"]);
  assert.equal(m.state.virtualServers.get("TCP/198.51.100.5:80")!.owner.name, "b");
  assert.deepEqual([...m.state.conflicts], [["TCP/198.51.100.5:80", ["default/b", "default/a"]]]);
  assert.equal(m.state.virtualServers.get("TCP/10.96.0.1:80")!.owner.name, "a", "a's own port");
  // A service without a time comes after one with a time, whatever its name.
  m.set("default/0", planOf(svc({ name: "0", ips: ["10.96.0.9"], externalIPs: ["198.51.100.5"] })));
  assert.deepEqual(m.owners("TCP/198.51.100.5:80"), ["default/b", "default/a", "default/0"]);
  m.delete("default/b");
  m.delete("default/0");
  assert.equal(m.state.virtualServers.get("TCP/198.51.100.5:80")!.owner.name, "a");
  assert.equal(m.state.conflicts.size, 0);
});
