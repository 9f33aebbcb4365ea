import assert from "node:assert/strict";
import { FakeConntrack } from "../../src/dataplane/conntrack/conntrack.ts";
import { FakeIpset } from "../dataplane/ipset/fake.ts";
import { FakeIptables } from "../dataplane/iptables/fake.ts";
import { FakeIpvs } from "../dataplane/ipvs/fake.ts";
import { FakeDummyLink } from "../dataplane/link/fake.ts";
import { KipvsError } from "../../src/errors.ts";
import { Logger } from "../../src/log.ts";
import { DEFAULT_CONFIG, type ProxyConfig } from "../../src/config/config.ts";
import { Proxier, type SyncReport } from "../../src/reconcile/proxier.ts";
import type { ClusterState } from "../../src/source/source.ts";
import { cluster, NODE, slice, svc } from "../plan/_fixtures.ts";

function setup(config: Partial<ProxyConfig> = {}) {
  const ipset = new FakeIpset();
  const iptables = new FakeIptables();
  const dp = {
    ipvs: new FakeIpvs(),
    link: new FakeDummyLink(),
    ipset,
    iptables,
    conntrack: new FakeConntrack(),
    // The programs the kernel backends would run: one per save or restore.
    programs: () => ipset.saves + ipset.restores.length + iptables.saves + iptables.restores.length,
  };
  const proxier = new Proxier({
    config: { ...DEFAULT_CONFIG, hostname: NODE.name, families: [4], ...config },
    dataplane: dp,
    logger: new Logger({ sink: () => {} }),
  });
  const sync = (
    state: ClusterState,
    opts: { full?: boolean; services?: string[]; reusePlan?: boolean; node?: typeof NODE } = {},
  ) =>
    proxier.sync({
      state,
      node: opts.node ?? NODE,
      full: opts.full ?? false,
      services: new Set(opts.services ?? []),
      reusePlan: opts.reusePlan,
    });
  const table = async () =>
    (await dp.ipvs.readAll()).flatMap((s) => {
      const k = "address" in s.key ? `${s.key.protocol}/${s.key.address}:${s.key.port}` : "fwm";
      return [
        `${k} ${s.scheduler}`,
        ...s.destinations.map((d) => `${k} -> ${d.address}:${d.port} w${d.weight}`),
      ];
    }).sort();
  return { dp, proxier, sync, table };
}

const web = (...eps: string[]) => [
  svc({ name: "web", ips: ["10.96.0.10"] }),
  slice({ service: "web", name: "web-1", endpoints: eps }),
];
const dns = (...eps: string[]) => [
  svc({ name: "dns", ips: ["10.96.0.53"], ports: [{ name: "dns", protocol: "UDP", port: 53 }] }),
  slice({
    service: "dns",
    name: "dns-1",
    ports: [{ name: "dns", protocol: "UDP", port: 5353 }],
    endpoints: eps,
  }),
];

function writes(r: SyncReport) {
  const { ipvsOps, addressesAdded, addressesRemoved, ipsetRestores, iptablesRestores } = r;
  return { ipvsOps, addressesAdded, addressesRemoved, ipsetRestores, iptablesRestores };
}

Deno.test("Proxier's first sync programs the node and a second full sync writes nothing", async () => {
  const { dp, sync, table } = setup();
  const state = cluster(...web("10.244.1.2@node-a", "10.244.2.2@node-b"));
  const first = await sync(state, { full: true });
  assert.equal(first.full, true);
  assert.deepEqual(Object.keys(first.phases), ["plan", "addresses", "ipvs", "sets", "rest"]);
  assert.deepEqual(await table(), [
    "TCP/10.96.0.10:80 -> 10.244.1.2:8080 w1",
    "TCP/10.96.0.10:80 -> 10.244.2.2:8080 w1",
    "TCP/10.96.0.10:80 rr",
  ]);
  assert.deepEqual(await dp.link.listAddresses(), ["10.96.0.10"]);
  assert.ok(first.writes > 0);
  const again = await sync(state, { full: true });
  assert.equal(again.writes, 0, JSON.stringify(again));
});

Deno.test("Proxier adopts a node programmed by another process with zero writes", async () => {
  const a = setup();
  const state = cluster(...web("10.244.1.2@node-a"), ...dns("10.244.1.3@node-a"));
  await a.sync(state, { full: true });
  // A new process over the same kernel (same fakes): its first sync is a full one.
  const b = new Proxier({
    config: { ...DEFAULT_CONFIG, hostname: NODE.name, families: [4] },
    dataplane: a.dp,
    logger: new Logger({ sink: () => {} }),
  });
  const r = await b.sync({ state, node: NODE, full: false, services: new Set() });
  assert.equal(r.full, true, "the first sync of a proxier is always full");
  assert.equal(r.writes, 0, JSON.stringify(r));
});

Deno.test("Proxier's incremental sync touches only the changed service's virtual servers", async () => {
  const { dp, sync } = setup();
  await sync(cluster(...web("10.244.2.2@node-b"), ...dns("10.244.2.3@node-b")), { full: true });
  const saves = dp.ipset.saves + dp.iptables.saves;
  dp.ipvs.log.length = 0;
  const r = await sync(
    cluster(...web("10.244.2.2@node-b", "10.244.2.4@node-b"), ...dns("10.244.2.3@node-b")),
    { services: ["default/web"] },
  );
  assert.equal(r.full, false);
  assert.equal(r.services, 1);
  assert.deepEqual(dp.ipvs.log.map((o) => o.op), ["add-destination"]);
  assert.deepEqual(writes(r), {
    ipvsOps: 1,
    addressesAdded: 0,
    addressesRemoved: 0,
    ipsetRestores: 0,
    iptablesRestores: 0,
  });
  assert.equal(dp.ipset.saves + dp.iptables.saves, saves, "no ipset/iptables read either");
});

Deno.test("Proxier's resync that keeps the plan replans only the changed services and still repairs the whole kernel", async () => {
  const { dp, sync, table } = setup();
  await sync(cluster(...web("10.244.2.2@node-b"), ...dns("10.244.2.3@node-b")), { full: true });
  // Drift: another tool deletes web's real server; then dns gets a second endpoint.
  const web80 = { family: 4 as const, protocol: "TCP" as const, address: "10.96.0.10", port: 80 };
  await dp.ipvs.apply([{
    op: "delete-destination",
    service: web80,
    destination: { address: "10.244.2.2", port: 8080 },
  }]);
  const next = cluster(
    ...web("10.244.2.2@node-b"),
    ...dns("10.244.2.3@node-b", "10.244.2.5@node-b"),
  );
  const r = await sync(next, { full: true, reusePlan: true, services: ["default/dns"] });
  assert.equal(r.full, true);
  assert.equal(r.services, 1, "only the changed service was planned");
  assert.deepEqual(await table(), [
    "TCP/10.96.0.10:80 -> 10.244.2.2:8080 w1",
    "TCP/10.96.0.10:80 rr",
    "UDP/10.96.0.53:53 -> 10.244.2.3:5353 w1",
    "UDP/10.96.0.53:53 -> 10.244.2.5:5353 w1",
    "UDP/10.96.0.53:53 rr",
  ]);
  assert.equal((await sync(next, { full: true })).writes, 0, "the kept plan is the whole plan");
  // A different node plans every service again, even when asked to keep the plan.
  const moved = { ...NODE, localAddresses: ["192.168.1.10", "192.168.1.11"] };
  const m = await sync(next, { full: true, reusePlan: true, node: moved });
  assert.equal(m.services, 2);
});

Deno.test("Proxier drains a removed TCP real server with connections, then deletes it", async () => {
  const { dp, proxier, sync, table } = setup();
  await sync(cluster(...web("10.244.2.2@node-b", "10.244.2.3@node-b")), { full: true });
  const key = { family: 4 as const, protocol: "TCP" as const, address: "10.96.0.10", port: 80 };
  dp.ipvs.setDestinationStatus(key, { address: "10.244.2.3", port: 8080 }, {
    activeConnections: 1,
  });
  const r = await sync(cluster(...web("10.244.2.2@node-b")), { services: ["default/web"] });
  assert.equal(r.draining, 1);
  assert.deepEqual(await table(), [
    "TCP/10.96.0.10:80 -> 10.244.2.2:8080 w1",
    "TCP/10.96.0.10:80 -> 10.244.2.3:8080 w0",
    "TCP/10.96.0.10:80 rr",
  ]);
  assert.equal(await proxier.checkDraining(), 0, "still has a connection");
  dp.ipvs.setDestinationStatus(key, { address: "10.244.2.3", port: 8080 }, {
    activeConnections: 0,
  });
  assert.equal(await proxier.checkDraining(), 1);
  assert.deepEqual(await table(), [
    "TCP/10.96.0.10:80 -> 10.244.2.2:8080 w1",
    "TCP/10.96.0.10:80 rr",
  ]);
});

Deno.test("Proxier restores a draining real server that comes back", async () => {
  const { dp, proxier, sync, table } = setup();
  await sync(cluster(...web("10.244.2.2@node-b", "10.244.2.3@node-b")), { full: true });
  const key = { family: 4 as const, protocol: "TCP" as const, address: "10.96.0.10", port: 80 };
  dp.ipvs.setDestinationStatus(key, { address: "10.244.2.3", port: 8080 }, {
    inactiveConnections: 2,
  });
  await sync(cluster(...web("10.244.2.2@node-b")), { services: ["default/web"] });
  await sync(cluster(...web("10.244.2.2@node-b", "10.244.2.3@node-b")), {
    services: ["default/web"],
  });
  assert.deepEqual(await table(), [
    "TCP/10.96.0.10:80 -> 10.244.2.2:8080 w1",
    "TCP/10.96.0.10:80 -> 10.244.2.3:8080 w1",
    "TCP/10.96.0.10:80 rr",
  ]);
  assert.equal(proxier.draining.length, 0);
});

Deno.test("Proxier deletes a removed UDP real server at once and clears its conntrack flows", async () => {
  const { dp, sync, table } = setup();
  await sync(cluster(...dns("10.244.2.2@node-b", "10.244.2.3@node-b")), { full: true });
  const key = { family: 4 as const, protocol: "UDP" as const, address: "10.96.0.53", port: 53 };
  dp.ipvs.setDestinationStatus(key, { address: "10.244.2.3", port: 5353 }, {
    activeConnections: 3,
  });
  await sync(cluster(...dns("10.244.2.2@node-b")), { services: ["default/dns"] });
  assert.deepEqual(await table(), [
    "UDP/10.96.0.53:53 -> 10.244.2.2:5353 w1",
    "UDP/10.96.0.53:53 rr",
  ]);
  assert.deepEqual(dp.conntrack.cleared, [{ vip: "10.96.0.53", port: 53, endpoint: "10.244.2.3" }]);
});

Deno.test("Proxier repairs weights left at 0 and removes stale virtual servers, not excluded ones", async () => {
  const { dp, sync, table } = setup({ excludeCIDRs: ["172.16.0.0/12"] });
  await sync(cluster(...web("10.244.2.2@node-b")), { full: true });
  const key = { family: 4 as const, protocol: "TCP" as const, address: "10.96.0.10", port: 80 };
  const base = {
    family: 4 as const,
    forward: "masq" as const,
    upperThreshold: 0,
    lowerThreshold: 0,
  };
  await dp.ipvs.updateDestination(key, { ...base, address: "10.244.2.2", port: 8080, weight: 0 });
  for (const [address, port] of [["10.96.9.9", 80], ["172.16.0.1", 80]] as const) {
    const k = { family: 4 as const, protocol: "TCP" as const, address, port };
    await dp.ipvs.addService({
      key: k,
      scheduler: "rr",
      flags: 0,
      timeout: 0,
      netmask: 32,
      persistenceEngine: "",
    });
  }
  await dp.ipvs.addService({
    key: { family: 4, fwmark: 7 },
    scheduler: "rr",
    flags: 0,
    timeout: 0,
    netmask: 32,
    persistenceEngine: "",
  });
  await sync(cluster(...web("10.244.2.2@node-b")), { full: true });
  assert.deepEqual(await table(), [
    "TCP/10.96.0.10:80 -> 10.244.2.2:8080 w1",
    "TCP/10.96.0.10:80 rr",
    "TCP/172.16.0.1:80 rr",
    "fwm rr",
  ]);
});

Deno.test("Proxier applies every other operation when one fails and names the failure", async () => {
  const { sync, table } = setup({ scheduler: "nosuch" });
  await assert.rejects(
    () => sync(cluster(...web("10.244.2.2@node-b")), { full: true }),
    (e: unknown) =>
      e instanceof KipvsError && e.code === "sync" && /TCP\/10\.96\.0\.10:80/.test(e.message),
  );
  assert.deepEqual(await table(), [], "nothing half-made: the service was refused");
});

Deno.test("Proxier removes a deleted service's addresses, entries and virtual servers only", async () => {
  const { dp, sync, table } = setup();
  await sync(cluster(...web("10.244.2.2@node-b"), ...dns("10.244.2.3@node-b")), { full: true });
  const r = await sync(cluster(...dns("10.244.2.3@node-b")), { services: ["default/web"] });
  assert.equal(r.addressesRemoved, 1);
  assert.deepEqual(await table(), [
    "UDP/10.96.0.53:53 -> 10.244.2.3:5353 w1",
    "UDP/10.96.0.53:53 rr",
  ]);
  assert.deepEqual(await dp.link.listAddresses(), ["10.96.0.53"]);
  const sets = await dp.ipset.save();
  assert.deepEqual([...sets.get("KUBE-CLUSTER-IP")?.members.keys() ?? []], ["10.96.0.53,udp:53"]);
});

Deno.test("Proxier's incremental sync writes only the ipset entries that changed, without reading the sets", async () => {
  const { dp, sync } = setup();
  await sync(cluster(...web("10.244.2.2@node-b"), ...dns("10.244.2.3@node-b")), { full: true });
  const saves = dp.ipset.saves;
  const restores = dp.ipset.restores.length;
  // An endpoint moves to this node: its hairpin entry appears in KUBE-LOOP-BACK.
  const r = await sync(cluster(...web("10.244.1.2@node-a"), ...dns("10.244.2.3@node-b")), {
    services: ["default/web"],
  });
  assert.equal(dp.ipset.saves, saves, "no ipset save on the incremental path");
  assert.equal(dp.ipset.restores.length, restores + 1);
  assert.equal(dp.ipset.restores.at(-1), "add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2\n");
  assert.equal(r.ipsetEntries, 1);
  // KUBE-LOOP-BACK was empty: its rule appears, so the rules are read and restored once.
  assert.deepEqual([r.iptablesRestores, r.processes], [1, 3]);
  const sets = await dp.ipset.save();
  assert.deepEqual([...sets.get("KUBE-LOOP-BACK")!.members.keys()], [
    "10.244.1.2,tcp:8080,10.244.1.2",
  ]);
});

Deno.test("Proxier runs no program for a change that touches no ipset entry", async () => {
  const { sync } = setup();
  await sync(cluster(...web("10.244.2.2@node-b")), { full: true });
  const r = await sync(cluster(...web("10.244.2.2@node-b", "10.244.2.5@node-c")), {
    services: ["default/web"],
  });
  assert.deepEqual([r.ipvsOps, r.processes, r.netlinkMessages > 0], [1, 0, true]);
  assert.deepEqual(Object.keys(r.phases), ["plan", "ipvs", "rest"], "no set work to time");
});

Deno.test("Proxier's full sync reads back every virtual server it keeps and deletes stale ones in chunks", async () => {
  const { dp, sync, table } = setup();
  const objs = [];
  for (let i = 0; i < 30; i++) {
    objs.push(svc({ name: `s${i}`, ips: [`10.96.1.${i + 1}`] }));
    const eps = Array.from({ length: 200 }, (_, j) => `10.${100 + i}.${j >> 8}.${j & 255}@node-b`);
    objs.push(slice({ service: `s${i}`, name: `s${i}-1`, endpoints: eps }));
  }
  const first = await sync(cluster(...objs), { full: true });
  assert.equal(first.ipvsOps, 30 * 201, "more ops than one chunk of 4096");
  assert.equal((await table()).length, 30 * 201);
  const again = await sync(cluster(...objs.slice(2)), { full: true });
  assert.equal(again.ipvsOps, 1, "the stale service is deleted with its real servers at once");
  assert.equal(
    again.writes,
    1 + again.addressesRemoved + again.ipsetRestores + again.iptablesRestores,
  );
  assert.equal((await table()).length, 29 * 201);
  assert.equal(dp.ipvs.log.at(-1)?.op, "delete-service");
});

Deno.test("Proxier says once why IPVS reads are not pipelined, not at every full sync", async () => {
  class Unpipelined extends FakeIpvs {
    get pipelineUnavailable(): string {
      return "io_uring_setup: Operation not permitted (seccomp)";
    }
  }
  const lines: string[] = [];
  const ipset = new FakeIpset();
  const iptables = new FakeIptables();
  const proxier = new Proxier({
    config: { ...DEFAULT_CONFIG, hostname: NODE.name, families: [4] },
    dataplane: {
      ipvs: new Unpipelined(),
      link: new FakeDummyLink(),
      ipset,
      iptables,
      conntrack: new FakeConntrack(),
      programs: () => 0,
    },
    logger: new Logger({ sink: (l) => lines.push(l) }),
  });
  for (let i = 0; i < 3; i++) {
    await proxier.sync({
      state: cluster(...web("10.0.1.1")),
      node: NODE,
      full: true,
      services: new Set(),
    });
  }
  const said = lines.filter((l) => l.includes("not pipelined"));
  assert.equal(said.length, 1, lines.join("\n"));
  assert.match(said[0]!, /seccomp/);
});
