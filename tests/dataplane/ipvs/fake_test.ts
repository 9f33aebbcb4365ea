import assert from "node:assert/strict";
import { FakeIpvs } from "./fake.ts";
import { SVC_F } from "../../../src/dataplane/ipvs/constants.ts";
import { ERRNO, netlinkErrno } from "../../../src/dataplane/netlink/errno.ts";
import { MISSING, rs, TCP80, UDP6, vs } from "./_scenario.ts";

async function errnoOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (err) {
    return netlinkErrno(err);
  }
  return 0;
}

Deno.test("FakeIpvs answers EEXIST for a duplicate service or destination", async () => {
  const ipvs = new FakeIpvs();
  await ipvs.addService(vs(TCP80));
  assert.equal(await errnoOf(ipvs.addService(vs(TCP80))), ERRNO.EEXIST);
  await ipvs.addDestination(TCP80, rs("10.244.1.2", 8080));
  assert.equal(await errnoOf(ipvs.addDestination(TCP80, rs("10.244.1.2", 8080))), ERRNO.EEXIST);
});

Deno.test("FakeIpvs answers ESRCH for a missing service and ENOENT for a missing destination", async () => {
  const ipvs = new FakeIpvs();
  await ipvs.addService(vs(TCP80));
  assert.equal(await errnoOf(ipvs.deleteService(MISSING)), ERRNO.ESRCH);
  assert.equal(await errnoOf(ipvs.updateService(vs(MISSING))), ERRNO.ESRCH);
  assert.equal(await errnoOf(ipvs.addDestination(MISSING, rs("10.0.0.1", 1))), ERRNO.ESRCH);
  assert.equal(await errnoOf(ipvs.deleteDestination(TCP80, rs("10.0.0.1", 1))), ERRNO.ENOENT);
  assert.equal(await errnoOf(ipvs.updateDestination(TCP80, rs("10.0.0.1", 1))), ERRNO.ENOENT);
});

Deno.test("FakeIpvs refuses an unknown scheduler with EINVAL naming it, a missing module with ENOENT", async () => {
  const ipvs = new FakeIpvs({ schedulers: ["rr"] });
  try {
    await ipvs.addService(vs(TCP80, { scheduler: "fastest" }));
    assert.fail("no error");
  } catch (err) {
    assert.equal(netlinkErrno(err), ERRNO.EINVAL);
    assert.match(
      (err as Error).message,
      /^add service TCP\/10\.96\.0\.10:80: Invalid argument \(EINVAL\): unknown scheduler "fastest"/,
    );
  }
  assert.equal(await errnoOf(ipvs.addService(vs(TCP80, { scheduler: "mh" }))), ERRNO.ENOENT);
});

Deno.test("FakeIpvs answers ERANGE for a negative weight or a lower threshold above the upper", async () => {
  const ipvs = new FakeIpvs();
  await ipvs.addService(vs(TCP80));
  assert.equal(
    await errnoOf(ipvs.addDestination(TCP80, rs("10.0.0.1", 1, { weight: -1 }))),
    ERRNO.ERANGE,
  );
  assert.equal(
    await errnoOf(
      ipvs.addDestination(TCP80, rs("10.0.0.1", 1, { upperThreshold: 5, lowerThreshold: 6 })),
    ),
    ERRNO.ERANGE,
  );
});

Deno.test("FakeIpvs refuses a destination of the other family unless it is tunnelled", async () => {
  const ipvs = new FakeIpvs();
  await ipvs.addService(vs(TCP80));
  assert.equal(await errnoOf(ipvs.addDestination(TCP80, rs("fd00::1", 80))), ERRNO.EINVAL);
  await ipvs.addDestination(TCP80, rs("fd00::1", 80, { forward: "tunnel" }));
});

Deno.test("FakeIpvs.apply() reports every failing op and applies the rest", async () => {
  const ipvs = new FakeIpvs();
  const results = await ipvs.apply([
    { op: "add-service", service: vs(TCP80) },
    { op: "add-service", service: vs(TCP80) },
    { op: "add-destination", service: TCP80, destination: rs("10.244.1.2", 8080) },
    { op: "delete-service", key: MISSING },
    { op: "add-destination", service: TCP80, destination: rs("10.244.1.3", 8080) },
  ]);
  assert.deepEqual(results.map((r) => (r.ok ? 0 : r.errno)), [0, ERRNO.EEXIST, 0, ERRNO.ESRCH, 0]);
  assert.equal(ipvs.messagesSent, 5, "one message per op");
  assert.equal((await ipvs.listDestinations(TCP80)).length, 2);
  assert.equal(ipvs.log.length, 5);
});

Deno.test("FakeIpvs keeps destinations and counters when a service is updated", async () => {
  const ipvs = new FakeIpvs();
  await ipvs.addService(vs(TCP80));
  await ipvs.addDestination(TCP80, rs("10.244.1.2", 8080));
  ipvs.setDestinationStatus(TCP80, rs("10.244.1.2", 8080), { activeConnections: 3 });
  await ipvs.updateService(vs(TCP80, { scheduler: "wrr", flags: SVC_F.PERSISTENT, timeout: 60 }));
  const [s] = await ipvs.readAll();
  assert.equal(s?.scheduler, "wrr");
  assert.equal(s?.destinations[0]?.activeConnections, 3);
  await ipvs.updateDestination(TCP80, rs("10.244.1.2", 8080, { weight: 0 }));
  const [d] = await ipvs.listDestinations(TCP80);
  assert.equal(d?.weight, 0);
  assert.equal(d?.activeConnections, 3, "an update keeps the connection counts");
});

Deno.test("FakeIpvs finds an IPv6 service by any spelling of its address", async () => {
  const ipvs = new FakeIpvs();
  await ipvs.addService(vs(UDP6));
  const other = { ...UDP6, address: "FD00:0::A" };
  assert.equal((await ipvs.getService(other))?.key.family, 6);
  assert.equal(await errnoOf(ipvs.addService(vs(other))), ERRNO.EEXIST);
});

Deno.test("FakeIpvs injects faults, flushes, and keeps timeouts like the kernel", async () => {
  const ipvs = new FakeIpvs({
    fault: (op) => (op.op === "add-destination" ? ERRNO.ENOMEM : undefined),
  });
  await ipvs.addService(vs(TCP80));
  assert.equal(await errnoOf(ipvs.addDestination(TCP80, rs("10.0.0.1", 1))), ERRNO.ENOMEM);
  await ipvs.flush();
  assert.deepEqual(await ipvs.listServices(), []);
  await ipvs.setTimeouts({ tcp: 0, udp: 30 });
  assert.deepEqual(await ipvs.getTimeouts(), { tcp: 900, tcpFin: 120, udp: 30 });
  assert.equal(await errnoOf(ipvs.setTimeouts({ tcp: -1 })), ERRNO.EINVAL);
});

Deno.test("FakeIpvs keeps only what the kernel keeps of the objects it is given", async () => {
  const ipvs = new FakeIpvs();
  const service = { ...vs(TCP80), destinations: [rs("10.244.1.2", 80)], note: "caller's" };
  await ipvs.addService(service);
  await ipvs.addDestination(TCP80, { ...rs("10.244.1.2", 80), extra: 1 } as never);
  const [s] = await ipvs.listServices();
  assert.deepEqual(Object.keys(s!).sort(), [
    "flags",
    "key",
    "netmask",
    "persistenceEngine",
    "scheduler",
    "stats",
    "timeout",
  ]);
  const [d] = await ipvs.listDestinations(TCP80);
  assert.equal("extra" in d!, false);
  assert.equal(d!.tunnel, undefined);
});
