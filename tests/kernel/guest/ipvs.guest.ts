/**
 * IPVS through kipvs's netlink library against the guest's kernel, every answer cross-checked
 * with ipvsadm (and with FakeIpvs, which must answer the same). Runs inside the guest as root,
 * in the root network namespace; each test starts from an empty table.
 * Booted by tests/kernel/ipvs_test.ts.
 */

import assert from "node:assert/strict";
import { KernelIpvs } from "../../../src/dataplane/ipvs/kernel.ts";
import { FakeIpvs } from "../../dataplane/ipvs/fake.ts";
import { formatRules } from "../../../src/dataplane/ipvs/rules.ts";
import { SCHEDULERS, SVC_F } from "../../../src/dataplane/ipvs/constants.ts";
import type { Ipvs, IpvsOp, ServiceEntry, ServiceKey } from "../../../src/dataplane/ipvs/types.ts";
import { KernelDummyLink } from "../../../src/dataplane/link/kernel.ts";
import { ERRNO } from "../../../src/dataplane/netlink/errno.ts";
import {
  ipvsScenario,
  MISSING,
  rs,
  sortedByAddress,
  sortedTable,
  TCP80,
  UDP6,
  vs,
} from "../../dataplane/ipvs/_scenario.ts";
import { ipvsadmSave, run, sortedLines } from "./_run.ts";

const ipvs = KernelIpvs.open();
const rules = (t: ServiceEntry[]) => sortedLines(formatRules(t));
const errnos = async (x: Ipvs, ops: IpvsOp[]) =>
  (await x.apply(ops)).map((r) => (r.ok ? 0 : r.errno));

async function fresh(): Promise<void> {
  await ipvs.flush();
  assert.deepEqual(await ipvsadmSave(), []);
}

Deno.test("the scenario answers the same from the kernel and the fake, and ipvsadm agrees", async () => {
  await fresh();
  const kernel = await ipvsScenario(ipvs);
  const fake = await ipvsScenario(new FakeIpvs());
  assert.deepEqual(kernel.results, fake.results);
  assert.deepEqual(rules(kernel.table), rules(fake.table));
  assert.deepEqual(rules(kernel.table), await ipvsadmSave());
  assert.deepEqual(sortedTable(kernel.lean), sortedTable(fake.lean));
  assert.deepEqual(kernel.many.map(sortedByAddress), fake.many.map(sortedByAddress));
  assert.equal(kernel.table.length, 6);
  const timeouts = await run("ipvsadm", "-L", "--timeout");
  assert.match(timeouts, /Timeout \(tcp tcpfin udp\): 1800 120 60/);
  const header = (await run("ipvsadm", "-Ln")).split("\n")[0];
  assert.equal(
    header,
    `IP Virtual Server version ${kernel.info.version} (size=${kernel.info.connectionTableSize})`,
  );
  await ipvs.setTimeouts({ tcp: 900, udp: 300 });
});

Deno.test("every scheduler of the kernel takes a virtual server; a missing one is named", async () => {
  await fresh();
  // Debian's Linux 6.1 has no ip_vs_twos; the project's 6.12 has every scheduler built in.
  const missing = Deno.env.get("KIPVS_GUEST_KERNEL") === "6.1" ? "twos" : undefined;
  const here = SCHEDULERS.filter((s) => s !== missing && s !== "none");
  const ops: IpvsOp[] = here.map((scheduler, i) => ({
    op: "add-service",
    service: vs({ ...TCP80, port: 1000 + i }, {
      scheduler,
      flags: scheduler === "sh" || scheduler === "mh" ? SVC_F.SCHED1 | SVC_F.SCHED2 : 0,
    }),
  }));
  const results = await ipvs.apply(ops);
  assert.deepEqual(results.filter((r) => !r.ok).map((r) => !r.ok && r.error.message), []);
  const saved = await ipvsadmSave();
  for (const s of here) assert.ok(saved.some((l) => l.includes(` -s ${s}`)), s);
  assert.ok(saved.some((l) => l.endsWith("-s sh -b sh-fallback,sh-port")), saved.join("\n"));
  assert.deepEqual(rules(await ipvs.readAll()), saved);
  // A scheduler the kernel lacks: the kernel's ENOENT, with the scheduler named.
  if (missing === undefined) return;
  await assert.rejects(
    ipvs.addService(vs(TCP80, { scheduler: missing })),
    (e: Error) =>
      /add service TCP\/10\.96\.0\.10:80: No such file or directory \(ENOENT\): scheduler "twos" is not in this kernel/
        .test(e.message),
  );
});

Deno.test("updates and deletes of services and real servers show in ipvsadm -Sn", async () => {
  await fresh();
  await ipvs.addService(vs(TCP80));
  await ipvs.addService(vs(UDP6));
  await ipvs.addDestination(TCP80, rs("10.244.1.2", 8080));
  await ipvs.addDestination(TCP80, rs("10.244.1.3", 8080));
  await ipvs.addDestination(UDP6, rs("fd00:244::2", 53));
  await ipvs.updateService(
    vs(TCP80, { scheduler: "wrr", flags: SVC_F.PERSISTENT, timeout: 10800 }),
  );
  await ipvs.updateDestination(
    TCP80,
    rs("10.244.1.2", 8080, { forward: "droute", weight: 0, upperThreshold: 50, lowerThreshold: 5 }),
  );
  await ipvs.deleteDestination(TCP80, { address: "10.244.1.3", port: 8080 });
  await ipvs.deleteService(UDP6);
  assert.deepEqual(await ipvsadmSave(), [
    "-A -t 10.96.0.10:80 -s wrr -p 10800",
    "-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -g -w 0",
  ]);
  // ipvsadm -S leaves thresholds out; -L --thresholds shows them.
  assert.match(
    await run("ipvsadm", "-Ln", "--thresholds"),
    /-> 10\.244\.1\.2:8080\s+50\s+5\s+0\s+0/,
  );
  const got = await ipvs.getService(TCP80);
  assert.equal(got?.scheduler, "wrr");
  assert.equal(got?.timeout, 10800);
  assert.equal((await ipvs.listServices()).length, 1);
  assert.deepEqual((await ipvs.listDestinations(TCP80)).map((d) => d.weight), [0]);
  assert.equal(await ipvs.getService(UDP6), undefined);
  // Many at once (several sends' worth), missing ones undefined, the same answer as getService.
  const keys: ServiceKey[] = Array.from({ length: 600 }, (_, i) => ({
    family: 4,
    protocol: "TCP",
    address: "10.96.0.10",
    port: 1000 + i,
  }));
  keys[450] = TCP80;
  keys[451] = UDP6;
  const many = await ipvs.getServices(keys);
  assert.equal(many.length, 600);
  assert.deepEqual(many.flatMap((s, i) => s ? [i] : []), [450]);
  const { stats: _a, ...one } = got!;
  const { stats: _b, ...again } = many[450]!;
  assert.deepEqual(again, one);
});

Deno.test("kernel errors keep their errno, name the op and object, and match the fake's", async () => {
  await fresh();
  const ops: IpvsOp[] = [
    { op: "add-service", service: vs(TCP80) },
    { op: "add-service", service: vs(TCP80) }, // EEXIST
    { op: "add-destination", service: TCP80, destination: rs("10.244.1.2", 8080) },
    { op: "add-destination", service: TCP80, destination: rs("10.244.1.2", 8080) }, // EEXIST
    { op: "delete-destination", service: TCP80, destination: { address: "10.9.9.9", port: 1 } },
    { op: "update-destination", service: TCP80, destination: rs("10.9.9.9", 1) }, // ENOENT
    { op: "add-destination", service: MISSING, destination: rs("10.244.1.2", 80) }, // ESRCH
    { op: "delete-service", key: MISSING }, // ESRCH
    { op: "update-service", service: vs(MISSING) }, // ESRCH
    { op: "add-service", service: vs(MISSING, { scheduler: "fastest" }) }, // EINVAL (ours)
    { op: "add-destination", service: TCP80, destination: rs("10.244.1.4", 80, { weight: -1 }) },
    {
      op: "add-destination",
      service: TCP80,
      destination: rs("10.244.1.5", 80, { upperThreshold: 5, lowerThreshold: 6 }),
    },
    { op: "add-destination", service: TCP80, destination: rs("fd00::5", 80) }, // family, masq
  ];
  const kernel = await errnos(ipvs, ops);
  assert.deepEqual(kernel, [
    0,
    ERRNO.EEXIST,
    0,
    ERRNO.EEXIST,
    ERRNO.ENOENT,
    ERRNO.ENOENT,
    ERRNO.ESRCH,
    ERRNO.ESRCH,
    ERRNO.ESRCH,
    ERRNO.EINVAL,
    ERRNO.ERANGE,
    ERRNO.ERANGE,
    ERRNO.EINVAL,
  ]);
  assert.deepEqual(await errnos(new FakeIpvs(), ops), kernel);
  await assert.rejects(
    ipvs.addDestination(TCP80, rs("10.244.1.2", 8080)),
    (e: Error & { details?: Record<string, unknown> }) =>
      e.message ===
        "add destination 10.244.1.2:8080 to TCP/10.96.0.10:80: File exists (EEXIST)" &&
      e.details?.errno === ERRNO.EEXIST,
  );
  await assert.rejects(
    ipvs.deleteService(MISSING),
    /^KipvsError: delete service TCP\/10\.96\.9\.9:1: No such process \(ESRCH\): no such service$/,
  );
});

Deno.test("a batch of 10,000 with one bad op applies the other 9,999 and names the bad one", async () => {
  await fresh();
  const ops: IpvsOp[] = [];
  for (let i = 0; i < 1000; i++) {
    const key: ServiceKey = {
      family: 4,
      protocol: "TCP",
      address: `10.96.${i >> 8}.${i & 255}`,
      port: 80,
    };
    ops.push({ op: "add-service", service: vs(key) });
    for (let j = 0; j < 9; j++) {
      ops.push({
        op: "add-destination",
        service: key,
        destination: rs(`10.244.${i >> 8}.${i & 255}`, 8000 + j),
      });
    }
  }
  ops.splice(5000, 0, {
    op: "add-destination",
    service: MISSING,
    destination: rs("10.244.9.9", 80),
  });
  assert.equal(ops.length, 10_001);
  ops.pop(); // 10,000 exactly: the last real server of the last service goes
  const sent = ipvs.messagesSent;
  const results = await ipvs.apply(ops);
  assert.equal(ipvs.messagesSent - sent, 10_000);
  const failed = results.flatMap((
    r,
    i,
  ) => (r.ok ? [] : [{ i, errno: r.errno, msg: r.error.message }]));
  assert.deepEqual(failed, [{
    i: 5000,
    errno: ERRNO.ESRCH,
    msg:
      "add destination 10.244.9.9:80 to TCP/10.96.9.9:1: No such process (ESRCH): no such service",
  }]);
  const saved = await ipvsadmSave();
  assert.equal(saved.length, 9_999);
  assert.deepEqual(rules(await ipvs.readAll()), saved);
});

Deno.test("5,000 failing ops in one batch each report their errno: no reply is lost", async () => {
  await fresh();
  await ipvs.addService(vs(TCP80));
  const ops: IpvsOp[] = Array.from({ length: 5000 }, (_, i) => ({
    op: "delete-destination",
    service: TCP80,
    destination: { address: `10.244.${i >> 8}.${i & 255}`, port: 80 },
  }));
  const results = await ipvs.apply(ops);
  assert.ok(results.every((r) => !r.ok && r.errno === ERRNO.ENOENT));
});

Deno.test("counters and connection counts read back as ipvsadm -Ln --stats shows them after traffic", async () => {
  await fresh();
  const link = KernelDummyLink.open();
  await link.ensure();
  await link.addAddresses(["10.96.0.10", "10.96.0.11"]);
  const PERSIST: ServiceKey = { ...TCP80, address: "10.96.0.11" };
  await ipvs.apply([
    { op: "add-service", service: vs(TCP80) },
    { op: "add-destination", service: TCP80, destination: rs("10.244.1.2", 8080) },
    { op: "add-destination", service: TCP80, destination: rs("10.244.1.3", 8080) },
    { op: "add-service", service: vs(PERSIST, { flags: SVC_F.PERSISTENT, timeout: 60 }) },
    { op: "add-destination", service: PERSIST, destination: rs("10.244.1.3", 8080) },
  ]);
  const client = `${Deno.env.get("KIPVS_ROOT")}/tests/kernel/guest/client.py`;
  const answers = await run("python3", client, "tcp", "10.96.0.10", "80", "--count", "4");
  assert.deepEqual(sortedLines(answers), ["pod-a", "pod-a", "pod-b", "pod-b"]);
  assert.equal((await run("python3", client, "tcp", "10.96.0.11", "80")).trim(), "pod-b");
  // One connection held open (one exchange, then quiet) while the counts are read.
  const hold = new Deno.Command("python3", {
    args: [client, "hold", "10.96.0.10", "80", "--seconds", "30", "--interval", "60"],
    stdout: "null",
  }).spawn();
  // The kernel folds counters in every 2 s; python starts slowly here. Read until the counts
  // are complete and the same before and after ipvsadm's read (nothing moved in between).
  const activeOf = (t: ServiceEntry[]) =>
    t.flatMap((x) => x.destinations).reduce((n, d) => n + d.activeConnections, 0);
  const connsOf = (t: ServiceEntry[]) =>
    t.find((x) => "address" in x.key && x.key.address === "10.96.0.10")?.stats?.connections;
  let table: ServiceEntry[] = [];
  let stats = "";
  let conns = "";
  for (let i = 0; i < 100; i++) {
    const before = await ipvs.readAll();
    stats = await run("ipvsadm", "-Ln", "--stats", "--exact");
    conns = await run("ipvsadm", "-Ln", "--persistent-conn");
    table = await ipvs.readAll();
    const steady = JSON.stringify(before) === JSON.stringify(table);
    if (steady && activeOf(table) === 1 && connsOf(table) === 5) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  hold.kill();
  await hold.output();

  const byAddr = new Map(table.map((s) => ["address" in s.key ? s.key.address : "", s]));
  const svc = byAddr.get("10.96.0.10")!;
  // ipvsadm: "TCP  10.96.0.10:80   Conns InPkts OutPkts InBytes OutBytes"
  const line = (prefix: string, after?: string) => {
    const lines = stats.split("\n");
    const from = after ? lines.findIndex((l) => l.includes(after)) : 0;
    const l = lines.slice(from).find((x) => x.trim().startsWith(prefix));
    return (l ?? assert.fail(`no ${prefix} in\n${stats}`)).trim().split(/\s+/).slice(-5).map(
      Number,
    );
  };
  const s = svc.stats ?? assert.fail("a read with counters has stats");
  assert.deepEqual(line("TCP  10.96.0.10:80"), [
    s.connections,
    s.packetsIn,
    s.packetsOut,
    s.bytesIn,
    s.bytesOut,
  ]);
  assert.equal(s.connections, 5, "4 requests and the held connection");
  for (const d of svc.destinations) {
    const ds = d.stats ?? assert.fail("a read with counters has stats");
    assert.deepEqual(line(`-> ${d.address}:8080`, "10.96.0.10:80"), [
      ds.connections,
      ds.packetsIn,
      ds.packetsOut,
      ds.bytesIn,
      ds.bytesOut,
    ]);
  }
  // "-> 10.244.1.2:8080  Masq  1  PersistConn ActiveConn InActConn", as [active, inactive, persist]
  const counts = (after: string, addr: string) => {
    const lines = conns.split("\n");
    const from = lines.findIndex((l) => l.includes(after));
    const l = lines.slice(from).find((x) => x.trim().startsWith(`-> ${addr}`))!;
    const [persist, active, inactive] = l.trim().split(/\s+/).slice(-3).map(Number);
    return [active, inactive, persist];
  };
  const active = svc.destinations.reduce((n, d) => n + d.activeConnections, 0);
  assert.equal(active, 1, "the held connection is active");
  for (const d of svc.destinations) {
    assert.deepEqual(counts("10.96.0.10:80", d.address), [
      d.activeConnections,
      d.inactiveConnections,
      d.persistentConnections,
    ]);
  }
  const pd = byAddr.get("10.96.0.11")!.destinations[0]!;
  assert.equal(pd.persistentConnections, 1, "the persistence template counts");
  assert.deepEqual(counts("10.96.0.11:80", "10.244.1.3"), [
    pd.activeConnections,
    pd.inactiveConnections,
    pd.persistentConnections,
  ]);
  await link.delete();
  link.close();
});

Deno.test("flush empties the table", async () => {
  await ipvs.addService(vs(UDP6));
  await ipvs.flush();
  assert.deepEqual(await ipvs.readAll(), []);
  assert.deepEqual(await ipvsadmSave(), []);
});
