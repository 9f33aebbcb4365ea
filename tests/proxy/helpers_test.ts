// Small derivations from the plan: IPVS flags and the load balancers the node must not reach.
import assert from "node:assert/strict";
import { loadBalancerNoNodeAccess } from "../../src/proxy/lbaccess.ts";
import { plan } from "../../src/proxy/plan.ts";
import { virtualServerFlags } from "../../src/proxy/vsflags.ts";
import { cluster, ctx, svc } from "./_fixtures.ts";

Deno.test("virtualServerFlags() sets persistent for affinity and the port hash for mh", () => {
  assert.equal(virtualServerFlags({ persistenceTimeout: 0, scheduler: "rr" }), 0);
  assert.equal(virtualServerFlags({ persistenceTimeout: 10800, scheduler: "rr" }), 0x1);
  assert.equal(virtualServerFlags({ persistenceTimeout: 0, scheduler: "mh" }), 0x10);
  assert.equal(virtualServerFlags({ persistenceTimeout: 60, scheduler: "mh" }), 0x11);
});

Deno.test("loadBalancerNoNodeAccess() lists load balancer ports whose source ranges leave the node out", () => {
  const lb = (name: string, ip: string, lbIPs: string[], ranges: string[]) =>
    svc({
      name,
      ips: ip.includes(":") ? [ip] : [ip],
      type: "LoadBalancer",
      sourceRanges: ranges,
      ingress: lbIPs.map((i) => ({ ip: i })),
      ports: [{ port: 443 }, { name: "dns", protocol: "UDP", port: 53 }],
    });
  const state = plan(
    cluster(
      lb("open", "10.96.0.1", ["203.0.113.1"], []),
      lb("covers", "10.96.0.2", ["203.0.113.2"], ["192.168.0.0/16"]),
      lb("excludes", "10.96.0.3", ["203.0.113.3"], ["198.51.100.0/24"]),
      lb("v6", "fd00:96::4", ["2001:db8::4"], ["2001:db8:1::/48"]),
    ),
    ctx(),
  );
  assert.deepEqual(loadBalancerNoNodeAccess(state, 4), [
    { address: "203.0.113.3", protocol: "TCP", port: 443 },
    { address: "203.0.113.3", protocol: "UDP", port: 53 },
  ]);
  assert.deepEqual(loadBalancerNoNodeAccess(state, 6), [
    { address: "2001:db8::4", protocol: "TCP", port: 443 },
    { address: "2001:db8::4", protocol: "UDP", port: 53 },
  ]);
});
