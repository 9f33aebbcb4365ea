import assert from "node:assert/strict";
import { FakeIpvs } from "../dataplane/ipvs/fake.ts";
import type { AddressServiceKey, Destination, IpvsOp } from "../../src/dataplane/ipvs/types.ts";
import { CHECK_CHUNK, GracefulTermination } from "../../src/reconcile/graceful.ts";
import { kernelServiceKey } from "../../src/reconcile/ipvs.ts";
import type { Draining } from "../../src/reconcile/ipvs.ts";

const vsKey = (i: number): AddressServiceKey => ({
  family: 4,
  protocol: "TCP",
  address: `10.96.${i >> 8}.${i & 255}`,
  port: 80,
});

const dest = (address: string, weight: number): Destination => ({
  family: 4,
  address,
  port: 8080,
  forward: "masq",
  weight,
  upperThreshold: 0,
  lowerThreshold: 0,
});

/** An IPVS table whose virtual servers 0..n-1 each hold real server 10.244.0.1 at weight 0. */
async function table(n: number): Promise<{ ipvs: FakeIpvs; draining: Draining[] }> {
  const ipvs = new FakeIpvs();
  const ops: IpvsOp[] = [];
  for (let i = 0; i < n; i++) {
    const key = vsKey(i);
    ops.push(
      {
        op: "add-service",
        service: { key, scheduler: "rr", flags: 0, timeout: 0, netmask: 32, persistenceEngine: "" },
      },
      { op: "add-destination", service: key, destination: dest("10.244.0.1", 0) },
    );
  }
  await ipvs.apply(ops);
  const lists = await ipvs.listDestinationsOf(Array.from({ length: n }, (_, i) => vsKey(i)));
  const draining = lists.map((l, i) => ({
    vs: kernelServiceKey(vsKey(i))!,
    service: vsKey(i),
    destination: l[0]!,
  }));
  return { ipvs, draining };
}

Deno.test("GracefulTermination.track replaces the draining real servers of the virtual servers given, and only theirs", async () => {
  const { draining } = await table(3);
  const [a, b, c] = draining as [Draining, Draining, Draining];
  const g = new GracefulTermination();
  g.track([a.vs, b.vs], [a, b]);
  assert.equal(g.size, 2);
  g.track([c.vs], [c]);
  assert.equal(g.size, 3, "a sync that touched c leaves a and b draining");
  g.track([a.vs], []);
  assert.equal(g.size, 2);
  assert.equal(g.has(a.vs, "10.244.0.1:8080"), false);
  assert.equal(g.has(b.vs, "10.244.0.1:8080"), true);
  g.track([b.vs], [b, b]);
  assert.deepEqual(g.list().map((d) => d.vs), [c.vs, b.vs]);
  assert.equal(g.size, 2, "the same real server twice counts once");
  g.clear();
  assert.deepEqual([g.size, g.list()], [0, []]);
});

Deno.test("GracefulTermination.check deletes the drained, keeps those with connections, forgets the gone and the wanted again, in pipelined reads", async () => {
  const n = CHECK_CHUNK + 5;
  const { ipvs, draining } = await table(n);
  const g = new GracefulTermination();
  g.track(draining.map((d) => d.vs), draining);
  ipvs.setDestinationStatus(vsKey(0), dest("10.244.0.1", 0), { activeConnections: 1 });
  ipvs.setDestinationStatus(vsKey(n - 1), dest("10.244.0.1", 0), { inactiveConnections: 2 });
  await ipvs.apply([
    { op: "update-destination", service: vsKey(1), destination: dest("10.244.0.1", 1) },
    { op: "delete-service", key: vsKey(2) },
  ]);
  let oneByOne = 0;
  const listDestinations = ipvs.listDestinations.bind(ipvs);
  ipvs.listDestinations = (...args) => (oneByOne++, listDestinations(...args));
  ipvs.log.length = 0;
  const ops = await g.check(ipvs);
  assert.equal(oneByOne, 0, "no read of one virtual server at a time");
  assert.equal(ops.length, n - 4, "all but the two with connections, the restored and the gone");
  assert.ok(ops.every((o) => o.op === "delete-destination"));
  assert.deepEqual(ipvs.log.length, n - 4);
  assert.equal(g.size, 2);
  assert.deepEqual(g.list().map((d) => d.vs).sort(), [draining[0]!.vs, draining[n - 1]!.vs].sort());
  assert.equal((await ipvs.listDestinations(vsKey(1)))[0]?.weight, 1, "wanted again: left alone");
});
