// Small derivations from the plan: IPVS flags, the load balancers the node must not reach, and
// finding one service's slices.
import assert from "node:assert/strict";
import { plan, sliceLookup } from "../../src/plan/plan.ts";
import { planRules } from "../../src/plan/rules.ts";
import { virtualServerFlags } from "../../src/plan/vsflags.ts";
import { SliceIndex } from "../../src/source/_slice_index.ts";
import { cluster, ctx, slice, svc } from "./_fixtures.ts";

Deno.test("virtualServerFlags() sets persistent for affinity and the port hash for mh", () => {
  assert.equal(virtualServerFlags({ persistenceTimeout: 0, scheduler: "rr" }), 0);
  assert.equal(virtualServerFlags({ persistenceTimeout: 10800, scheduler: "rr" }), 0x1);
  assert.equal(virtualServerFlags({ persistenceTimeout: 0, scheduler: "mh" }), 0x10);
  assert.equal(virtualServerFlags({ persistenceTimeout: 60, scheduler: "mh" }), 0x11);
});

Deno.test("planRules() drops the node's own packets to load balancer ports whose source ranges leave it out", () => {
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
  const noAccess = (family: 4 | 6) =>
    planRules({
      family,
      config: { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: [] },
      ipsets: state.ipsets,
    }).tables.filter.rules.get("KUBE-IPVS-OUT-FILTER")!.map((r) =>
      r.matches.flatMap((m) => m.kind === "ipvs" ? [`${m.protocol}/${m.address}:${m.port}`] : [])
        .join()
    );
  assert.deepEqual(noAccess(4), ["tcp/203.0.113.3:443", "udp/203.0.113.3:53"]);
  assert.deepEqual(noAccess(6), ["tcp/2001:db8::4:443", "udp/2001:db8::4:53"]);
});

Deno.test("sliceLookup() finds a service's slices through the source's index, as slicesByService() does", () => {
  const state = cluster(
    svc({ name: "web" }),
    slice({ service: "web", name: "web-1", endpoints: ["10.244.1.2"] }),
    slice({ service: "web", name: "web-2", endpoints: ["10.244.1.3"] }),
    slice({
      service: "web",
      name: "web-other",
      endpoints: ["10.244.1.4"],
      labels: { "service.kubernetes.io/service-proxy-name": "other" },
    }),
    slice({ service: "api", name: "api-1", endpoints: ["10.244.1.5"] }),
  );
  const index = new SliceIndex();
  for (const [k, s] of state.endpointSlices) index.update(k, undefined, s);
  const names = (l: (s: string) => { metadata: { name: string } }[], s: string) =>
    l(s).map((x) => x.metadata.name).sort();
  const grouped = sliceLookup(state);
  const indexed = sliceLookup({ ...state, endpointSlicesByService: index.byService });
  for (const s of ["default/web", "default/api", "default/none"]) {
    assert.deepEqual(names(indexed, s), names(grouped, s), s);
  }
  assert.deepEqual(names(indexed, "default/web"), ["web-1", "web-2"], "labelled slices left out");
});
