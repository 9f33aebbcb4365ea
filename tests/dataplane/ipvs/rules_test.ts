import assert from "node:assert/strict";
import { formatRules } from "../../../src/dataplane/ipvs/rules.ts";
import { parseRule, parseRules } from "../../../bench/ipvs_rules.ts";
import { SVC_F } from "../../../src/dataplane/ipvs/constants.ts";
import type { IpvsOp, ServiceEntry } from "../../../src/dataplane/ipvs/types.ts";
import { FakeIpvs } from "./fake.ts";
import { SCENARIO_OPS } from "./_scenario.ts";

// What `ipvsadm -Sn` printed in the guest for a table kipvs made (see tests/kernel).
const IPVSADM_SAVE = `-A -t 10.96.0.10:80 -s rr
-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1
-a -t 10.96.0.10:80 -r 10.244.1.3:8080 -m -w 1
-A -u [fd00::10]:53 -s sh -p 300 -M 64
-A -f 4660 -s mh -p 60 -M 255.255.255.0 -b mh-fallback,mh-port
`;

Deno.test("parseRules() reads what ipvsadm -Sn prints", () => {
  const ops = parseRules(IPVSADM_SAVE);
  assert.equal(ops.length, 5);
  assert.deepEqual(ops[3], {
    op: "add-service",
    service: {
      key: { family: 6, protocol: "UDP", address: "fd00::10", port: 53 },
      scheduler: "sh",
      flags: SVC_F.PERSISTENT,
      timeout: 300,
      netmask: 64,
      persistenceEngine: "",
    },
  });
  const fwm = ops[4] as Extract<IpvsOp, { op: "add-service" }>;
  assert.deepEqual(fwm.service.key, { family: 4, fwmark: 4660 });
  assert.equal(fwm.service.netmask, 24);
  assert.equal(fwm.service.flags, SVC_F.PERSISTENT | SVC_F.SCHED1 | SVC_F.SCHED2);
});

Deno.test("formatRules() prints a table back in ipvsadm -Sn's exact form", async () => {
  const ipvs = new FakeIpvs();
  const results = await ipvs.apply(parseRules(IPVSADM_SAVE));
  assert.ok(results.every((r) => r.ok));
  const table: ServiceEntry[] = await ipvs.readAll();
  assert.deepEqual(formatRules(table).split("\n").sort(), IPVSADM_SAVE.split("\n").sort());
});

Deno.test("the scenario's table survives format and parse", async () => {
  const ipvs = new FakeIpvs();
  await ipvs.apply(SCENARIO_OPS);
  const text = formatRules(await ipvs.readAll());
  const again = new FakeIpvs();
  assert.ok((await again.apply(parseRules(text))).every((r) => r.ok));
  assert.equal(formatRules(await again.readAll()), text);
});

Deno.test("parseRule() reads edits, deletions and ipvsadm's defaults", () => {
  assert.deepEqual(parseRule("-D -t 10.0.0.1:80"), {
    op: "delete-service",
    key: { family: 4, protocol: "TCP", address: "10.0.0.1", port: 80 },
  });
  const add = parseRule("-a -u 10.0.0.1:53 -r 10.1.0.1") as Extract<
    IpvsOp,
    { op: "add-destination" }
  >;
  assert.equal(add.destination.port, 53, "a real server without a port takes the service's");
  assert.equal(add.destination.forward, "droute", "ipvsadm's default is gatewaying");
  assert.equal(add.destination.weight, 1);
  const svc = parseRule("-E -f 7 -6 -p") as Extract<IpvsOp, { op: "update-service" }>;
  assert.deepEqual(svc.service.key, { family: 6, fwmark: 7 });
  assert.equal(svc.service.scheduler, "wlc");
  assert.equal(svc.service.timeout, 300);
  assert.equal(svc.service.netmask, 128);
  assert.deepEqual(parseRule("-d -t [fd00::1]:80 -r [fd00::2]:8080"), {
    op: "delete-destination",
    service: { family: 6, protocol: "TCP", address: "fd00::1", port: 80 },
    destination: { address: "fd00::2", port: 8080 },
  });
});

Deno.test("parseRules() names the line and the option it cannot read", () => {
  assert.throws(
    () => parseRules("-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.2:80 --frobnicate\n"),
    /ipvsadm rules line 2 "-A -t 10\.0\.0\.2:80 --frobnicate": unknown option "--frobnicate"/,
  );
  assert.throws(() => parseRule("-a -t 10.0.0.1:80 -m"), /no real server/);
  assert.throws(() => parseRule("-C"), /unknown command "-C"/);
  assert.throws(() => parseRule("-A -s rr"), /no service/);
  assert.throws(() => parseRule("-A -t 10.0.0.1:80 -s"), /-s needs a value/);
  assert.throws(() => parseRule("-A -t 10.0.0.1:80 -w x"), /-w needs a number/);
});
