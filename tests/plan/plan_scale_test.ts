// plan() at scale: 10,000 services x 10 endpoints. Prints its time; passes on correctness only
// (figures, not thresholds: the machine is shared).
import assert from "node:assert/strict";
import { PlanMerge } from "../../src/plan/merge.ts";
import { plan, planService, slicesByService } from "../../src/plan/plan.ts";
import { cluster, ctx, slice, svc } from "./_fixtures.ts";

const SERVICES = 10_000;
const ENDPOINTS = 10;

function objects() {
  const out = [];
  for (let i = 0; i < SERVICES; i++) {
    const name = `svc-${i}`;
    const ip = `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    out.push(svc({ name, ips: [ip] }));
    const eps = [];
    for (let j = 0; j < ENDPOINTS; j++) {
      const n = i * ENDPOINTS + j;
      eps.push(`10.${128 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}@node-${n % 50}`);
    }
    out.push(slice({ service: name, name: `${name}-abc`, endpoints: eps }));
  }
  return out;
}

Deno.test("plan() of 10,000 services x 10 endpoints: counts right, time printed", () => {
  const state0 = cluster(...objects());
  const c = ctx({ families: [4], node: { name: "node-0" } });
  plan(state0, c); // warm-up
  const runs: number[] = [];
  let state = plan(state0, c);
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    state = plan(state0, c);
    runs.push(performance.now() - t);
  }
  assert.equal(state.virtualServers.size, SERVICES);
  let rs = 0;
  for (const vs of state.virtualServers.values()) rs += vs.realServers.length;
  assert.equal(rs, SERVICES * ENDPOINTS);
  assert.equal(state.addresses.size, SERVICES);
  assert.equal(state.ipsets.get("KUBE-CLUSTER-IP")!.size, SERVICES);
  assert.equal(state.ipsets.get("KUBE-LOOP-BACK")!.size, (SERVICES * ENDPOINTS) / 50);

  // One service's endpoints change: replan it and merge it in.
  const merge = new PlanMerge({ families: [4] });
  const slices = slicesByService(state0.endpointSlices.values());
  for (const [key, s] of state0.services) merge.set(key, planService(s, slices.get(key)!, c)!);
  const s = state0.services.get("default/svc-77")!;
  const changed = slice({
    service: "svc-77",
    endpoints: ["10.250.0.1@node-0", "10.250.0.2@node-1"],
  });
  const t = performance.now();
  const delta = merge.set("default/svc-77", planService(s, [changed], c)!);
  const incremental = performance.now() - t;
  assert.deepEqual(delta.virtualServers, ["TCP/10.96.0.77:80"]);

  const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
  console.log(
    `plan() ${SERVICES} services x ${ENDPOINTS} endpoints: ${runs.map(fmt).join(", ")}; ` +
      `one service replanned and merged: ${(incremental * 1000).toFixed(0)} us`,
  );
});
