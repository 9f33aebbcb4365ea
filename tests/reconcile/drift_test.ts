import { fakeDataplane } from "../dataplane/fakes.ts";
import assert from "node:assert/strict";
import { Logger } from "../../src/log.ts";
import { DEFAULT_CONFIG } from "../../src/config/config.ts";
import { Proxier } from "../../src/reconcile/proxier.ts";
import { describeDrift, driftOf, DriftTracker, InputChanges } from "../../src/reconcile/drift.ts";
import type { Write } from "../../src/reconcile/reconciler.ts";
import type { ClusterState } from "../../src/source/source.ts";
import { cluster, NODE, slice, svc } from "../plan/_fixtures.ts";

function setup() {
  const dp = fakeDataplane();
  const proxier = new Proxier({
    config: { ...DEFAULT_CONFIG, hostname: NODE.name, families: [4] },
    dataplane: dp,
    logger: new Logger({ sink: () => {} }),
  });
  const sync = (state: ClusterState, o: { full?: boolean; services?: string[] } = {}) =>
    proxier.sync({
      state,
      node: NODE,
      full: o.full ?? true,
      services: new Set(o.services ?? []),
    });
  /** What a sync's drift says, one line per write. */
  const lines = (w: readonly Write[]) => w.map((x) => `${x.kind} ${x.action} ${x.object}`).sort();
  return { dp, sync, lines };
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
const WEB = { family: 4, protocol: "TCP", address: "10.96.0.10", port: 80 } as const;

Deno.test("drift: the first sync adopts the kernel and a sync with nothing changed repairs nothing", async () => {
  const { sync } = setup();
  const state = cluster(...web("10.244.2.2@node-b"));
  const first = await sync(state);
  assert.ok(first.writes > 0);
  assert.deepEqual(first.drift, [], "the first sync adopts what it finds");
  const second = await sync(state);
  assert.deepEqual([second.writes, second.drift], [0, []]);
});

Deno.test("drift: an input change is not drift, whether a full or an incremental sync writes it", async () => {
  const { sync } = setup();
  await sync(cluster(...web("10.244.2.2@node-b"), ...dns("10.244.2.3@node-b")));
  // An endpoint added, a service removed: written by a full sync that knows which changed.
  const full = await sync(cluster(...web("10.244.2.2@node-b", "10.244.2.4@node-b")), {
    services: ["default/web", "default/dns"],
  });
  assert.ok(full.ipvsOps >= 2 && full.ipsetEntries > 0 && full.addressesRemoved === 1);
  assert.deepEqual(full.drift, []);
  // Back again, incrementally.
  const part = await sync(cluster(...web("10.244.2.2@node-b"), ...dns("10.244.2.3@node-b")), {
    full: false,
    services: ["default/web", "default/dns"],
  });
  assert.ok(part.ipvsOps > 0);
  assert.deepEqual(part.drift, []);
});

Deno.test("drift: a virtual server the kernel lost is drift, and so are its real servers", async () => {
  const { dp, sync, lines } = setup();
  const state = cluster(...web("10.244.2.2@node-b", "10.244.2.3@node-b"), ...dns("10.244.2.5@x"));
  await sync(state);
  await dp.ipvs.apply([{ op: "delete-service", key: WEB }]); // ipvsadm -D behind kipvs's back
  const r = await sync(state, { services: ["default/dns"] }); // another service changed
  assert.deepEqual(lines(r.drift), [
    "ipvs add TCP/10.96.0.10:80",
    "realserver add TCP/10.96.0.10:80 10.244.2.2:8080",
    "realserver add TCP/10.96.0.10:80 10.244.2.3:8080",
  ]);
  assert.deepEqual(describeDrift(r.drift), [
    "virtual server TCP/10.96.0.10:80 deleted by someone else",
    "TCP/10.96.0.10:80: 2 real servers missing",
  ]);
});

Deno.test("drift: foreign real servers and virtual servers removed, weights put back", async () => {
  const { dp, sync, lines } = setup();
  const state = cluster(...web("10.244.2.2@node-b"));
  await sync(state);
  const rs = (address: string, weight: number) => ({
    address,
    port: 8080,
    family: 4 as const,
    forward: "masq" as const,
    weight,
    upperThreshold: 0,
    lowerThreshold: 0,
  });
  await dp.ipvs.apply([
    { op: "add-destination", service: WEB, destination: rs("10.244.9.9", 1) },
    { op: "update-destination", service: WEB, destination: rs("10.244.2.2", 5) },
    {
      op: "add-service",
      service: {
        key: { ...WEB, address: "10.96.7.7" },
        scheduler: "rr",
        flags: 0,
        timeout: 0,
        netmask: 32,
        persistenceEngine: "",
      },
    },
  ]);
  const r = await sync(state);
  assert.deepEqual(lines(r.drift), [
    "ipvs delete TCP/10.96.7.7:80",
    "realserver delete TCP/10.96.0.10:80 10.244.9.9:8080",
    "realserver update TCP/10.96.0.10:80 10.244.2.2:8080",
  ]);
});

Deno.test("drift: set members, kube-ipvs0, its addresses and chains changed by others", async () => {
  const { dp, sync, lines } = setup();
  const state = cluster(...web("10.244.1.2@node-a"), ...dns("10.244.2.3@node-b"));
  await sync(state);
  await dp.ipset.apply([{ op: "flush", set: "KUBE-CLUSTER-IP" }]);
  await dp.link.deleteAddresses(["10.96.0.53"]);
  const nat = (await dp.iptables.save(4)).get("nat")!;
  const kept = nat.get("KUBE-SERVICES")!.rules.slice(1);
  await dp.iptables.restore(4, `*nat\n:KUBE-SERVICES - [0:0]\n${kept.join("\n")}\nCOMMIT\n`);
  const r = await sync(state);
  assert.deepEqual(lines(r.drift), [
    "address add 10.96.0.53",
    "ipset add KUBE-CLUSTER-IP 10.96.0.10,tcp:80",
    "ipset add KUBE-CLUSTER-IP 10.96.0.53,udp:53",
    "rule update 4/nat/KUBE-SERVICES",
  ]);
  assert.deepEqual(describeDrift(r.drift), [
    "address 10.96.0.53 missing from kube-ipvs0",
    "chain 4/nat/KUBE-SERVICES changed",
    "KUBE-CLUSTER-IP: 2 entries missing",
  ]);
  await dp.link.delete();
  const again = await sync(state);
  assert.ok(lines(again.drift).includes("link add kube-ipvs0"), lines(again.drift).join("\n"));
});

Deno.test("drift: a sync after a failed one adopts the kernel again", async () => {
  const { dp, sync } = setup();
  const state = cluster(...web("10.244.2.2@node-b"));
  await sync(state);
  await dp.ipvs.apply([{ op: "delete-service", key: WEB }]);
  const save = dp.ipset.save.bind(dp.ipset);
  dp.ipset.save = () => Promise.reject(new Error("ipset save failed"));
  await assert.rejects(sync(state), /ipset save failed/);
  dp.ipset.save = save;
  const r = await sync(state);
  assert.deepEqual(r.drift, [], "the retry cannot tell drift from its own unfinished writes");
  await dp.ipvs.apply([{ op: "delete-service", key: WEB }]);
  assert.equal((await sync(state)).drift.length, 2);
});

Deno.test("driftOf() leaves writes the input or the plan explains, and keeps the rest", () => {
  const changes = new InputChanges();
  changes.virtualServers.add("TCP/10.96.0.10:80");
  changes.addresses.add("10.96.0.10");
  changes.members.add("KUBE-CLUSTER-IP 10.96.0.10,tcp:80");
  const w = (kind: Write["kind"], object: string, more: Partial<Write> = {}): Write => ({
    kind,
    action: "add",
    object,
    ...more,
  });
  const writes = [
    w("ipvs", "TCP/10.96.0.10:80"),
    w("realserver", "TCP/10.96.0.10:80 10.244.1.2:80", { parent: "TCP/10.96.0.10:80" }),
    w("address", "10.96.0.10"),
    w("ipset", "KUBE-CLUSTER-IP 10.96.0.10,tcp:80", { parent: "KUBE-CLUSTER-IP" }),
    w("rule", "4/nat/KUBE-SERVICES", { action: "update", planned: true }),
    w("realserver", "TCP/10.96.0.11:80 10.244.1.3:80", {
      action: "delete",
      parent: "TCP/10.96.0.11:80",
      planned: true, // drained
    }),
  ];
  assert.deepEqual(driftOf(writes, changes), []);
  const drift = [
    w("ipvs", "TCP/10.96.0.11:80"),
    w("ipset", "KUBE-CLUSTER-IP"),
    w("link", "kube-ipvs0"),
    w("rule", "4/nat/PREROUTING -> KUBE-SERVICES"),
  ];
  assert.deepEqual(driftOf([...writes, ...drift], changes), drift);
  changes.all = true;
  assert.deepEqual(driftOf(drift, changes), []);
});

Deno.test("DriftTracker counts repairs by kind and the syncs in a row that find the same objects", () => {
  const t = new DriftTracker();
  const vs: Write = { kind: "ipvs", action: "add", object: "TCP/10.96.0.10:80" };
  const other: Write = { kind: "ipvs", action: "delete", object: "TCP/10.96.7.7:80" };
  assert.equal(t.record([], { at: 0, full: true }), undefined);
  assert.equal(t.record([vs], { at: 1000, full: true })?.syncsInARow, 1);
  assert.equal(t.record([], { at: 2000, full: false }), undefined, "a partial sync sees little");
  assert.equal(t.record([vs, other], { at: 3000, full: true })?.syncsInARow, 2);
  const third = t.record([other], { at: 4000, full: true })!;
  assert.deepEqual(third, {
    at: "1970-01-01T00:00:04.000Z",
    repairs: { ipvs: 1 },
    objects: ["virtual server TCP/10.96.7.7:80 added by someone else"],
    syncsInARow: 3,
  });
  t.setWriter("kube-proxy (its process is running)");
  assert.equal(t.last?.writer, "kube-proxy (its process is running)");
  assert.deepEqual(t.totals, { ipvs: 4 });
  assert.equal(t.record([], { at: 5000, full: true }), undefined);
  assert.equal(t.record([other], { at: 6000, full: true })?.syncsInARow, 1, "the run ended");
  const many = Array.from({ length: 7 }, (_, i): Write => ({
    kind: "address",
    action: "add",
    object: `10.96.0.${i}`,
  }));
  assert.deepEqual(t.record(many, { at: 7000, full: true })?.objects.at(-1), "and 2 more");
});
