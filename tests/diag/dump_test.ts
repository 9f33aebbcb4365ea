import assert from "node:assert/strict";
import { formatRules } from "../../src/dataplane/ipvs/rules.ts";
import { KipvsError } from "../../src/errors.ts";
import { excludedBy } from "../../src/diag/diff.ts";
import { buildDump, checkFilter, dumpEntries, flagNames } from "../../src/diag/dump.ts";
import { dumpText } from "../../src/diag/dump_text.ts";
import { desiredOf, fakeNode, scenario } from "./_node.ts";

const WEB = { family: 4 as const, protocol: "TCP" as const, address: "10.96.0.10", port: 80 };
const vs = (address: string) => ({
  key: { ...WEB, address },
  scheduler: "rr",
  flags: 0,
  timeout: 0,
  netmask: 32,
  persistenceEngine: "",
});

/** "group: key kind [rs weight state]..." lines. */
function outline(report: ReturnType<typeof buildDump>): string[] {
  return report.groups.flatMap((g) =>
    g.virtualServers.map((v) =>
      `${g.name}: ${v.key} ${v.kind}` +
      v.realServers.map((r) =>
        ` ${r.address}:${r.port}/${r.weight}${r.draining ? "/draining" : ""}${
          r.local ? "/local" : ""
        }`
      ).join("")
    )
  );
}

Deno.test("buildDump() groups the IPVS table by namespace/service:port from the plan, with kinds and local real servers", async () => {
  const state = scenario();
  const node = await fakeNode(state);
  const report = buildDump({ snapshot: await node.snapshot(), desired: desiredOf(state) });
  assert.equal(report.source, "plan");
  assert.deepEqual(outline(report), [
    "default/empty:http: TCP/10.96.0.20:80 cluster-ip",
    "default/web:http: TCP/10.96.0.10:80 cluster-ip 10.244.1.2:8080/1/local 10.244.2.2:8080/1",
    "default/web:http: TCP/192.168.1.10:30080 node-port 10.244.1.2:8080/1/local 10.244.2.2:8080/1",
    "kube-system/dns:dns: UDP/10.96.0.53:53 cluster-ip 10.244.2.2:5353/1",
    "shop/lb:http: TCP/10.96.0.30:80 cluster-ip 10.244.1.2:8080/1/local",
    "shop/lb:http: TCP/203.0.113.10:80 load-balancer 10.244.1.2:8080/1/local",
    "shop/lb:http: TCP/192.168.1.10:30081 node-port 10.244.1.2:8080/1/local",
  ]);
  const dns = report.groups.find((g) => g.name === "kube-system/dns:dns")!.virtualServers[0]!;
  assert.deepEqual([dns.flags, dns.persistenceTimeout], [["persistent"], 10800]);
  assert.deepEqual(report.addresses.map((a) => `${a.address} ${a.services.join(",")}`), [
    "10.96.0.10 default/web",
    "10.96.0.20 default/empty",
    "10.96.0.30 shop/lb",
    "10.96.0.53 kube-system/dns",
    "203.0.113.10 shop/lb",
  ]);
  assert.equal(report.ipsets.filter((s) => s.kube).length, 17);
  assert.deepEqual(report.ipsets.find((s) => s.name === "KUBE-CLUSTER-IP")?.entries, 4);
  assert.ok(
    report.chains.some((c) => c.table === "nat" && c.chain === "KUBE-SERVICES" && c.rules > 0),
  );
});

Deno.test("buildDump() without a source infers kinds from the sets and groups a node port under its only matching cluster IP", async () => {
  const node = await fakeNode(scenario());
  const report = buildDump({ snapshot: await node.snapshot() });
  assert.equal(report.source, "kernel");
  assert.deepEqual(outline(report).map((l) => l.replace(/ \d.*$/, "")), [
    "TCP/10.96.0.10:80: TCP/10.96.0.10:80 cluster-ip",
    "TCP/10.96.0.10:80: TCP/192.168.1.10:30080 node-port",
    "TCP/10.96.0.20:80: TCP/10.96.0.20:80 cluster-ip",
    "TCP/10.96.0.30:80: TCP/10.96.0.30:80 cluster-ip",
    // Its one real server is behind two cluster IPs: which service it is cannot be told.
    "TCP/192.168.1.10:30081: TCP/192.168.1.10:30081 node-port",
    "TCP/203.0.113.10:80: TCP/203.0.113.10:80 load-balancer",
    "UDP/10.96.0.53:53: UDP/10.96.0.53:53 cluster-ip",
  ]);
  assert.ok(report.groups.every((g) => g.service === undefined));
  assert.deepEqual(report.addresses[0], { address: "10.96.0.10", services: [] });
});

Deno.test("buildDump() shows draining real servers and puts virtual servers no service claims last", async () => {
  const state = scenario();
  const node = await fakeNode(state);
  const ipvs = node.dp.ipvs;
  await ipvs.updateDestination(WEB, {
    address: "10.244.2.2",
    port: 8080,
    family: 4,
    forward: "masq",
    weight: 0,
    upperThreshold: 0,
    lowerThreshold: 0,
  });
  ipvs.setDestinationStatus(WEB, { address: "10.244.2.2", port: 8080 }, {
    activeConnections: 3,
    inactiveConnections: 1,
  });
  await ipvs.addService(vs("10.96.7.7"));
  await ipvs.addService(vs("10.200.0.1"));
  await ipvs.addService({ ...vs(""), key: { family: 4, fwmark: 42 } });
  const report = buildDump({
    snapshot: await node.snapshot(),
    desired: desiredOf(state),
    excluded: excludedBy(["10.200.0.0/16"]),
  });
  const names = report.groups.map((g) => g.name);
  assert.deepEqual(names.slice(-3), [
    "(not in plan)",
    "(excluded by --ipvs-exclude-cidrs)",
    "(fwmark, not kipvs)",
  ]);
  const rs = report.groups.find((g) => g.name === "default/web:http")!.virtualServers[0]!
    .realServers[1]!;
  assert.deepEqual(
    [rs.weight, rs.draining, rs.activeConnections, rs.inactiveConnections],
    [0, true, 3, 1],
  );
  assert.match(dumpText(report, { color: false }), /-> 10\.244\.2\.2:8080 +0 +3 +1 +draining$/m);
});

Deno.test("buildDump() filters by namespace, service and address (virtual or real server)", async () => {
  const state = scenario();
  const node = await fakeNode(state);
  const snapshot = await node.snapshot();
  const desired = desiredOf(state);
  const groups = (filter: Parameters<typeof buildDump>[0]["filter"]) =>
    buildDump({ snapshot, desired, filter }).groups.map((g) =>
      `${g.name} ${g.virtualServers.map((v) => v.key).join(" ")}`
    );
  assert.deepEqual(groups({ namespace: "shop" }), [
    "shop/lb:http TCP/10.96.0.30:80 TCP/203.0.113.10:80 TCP/192.168.1.10:30081",
  ]);
  assert.deepEqual(groups({ service: "dns" }), ["kube-system/dns:dns UDP/10.96.0.53:53"]);
  assert.deepEqual(groups({ service: "default/dns" }), []);
  assert.deepEqual(groups({ address: "10.244.2.2" }), [
    "default/web:http TCP/10.96.0.10:80 TCP/192.168.1.10:30080",
    "kube-system/dns:dns UDP/10.96.0.53:53",
  ]);
  const byAddr = buildDump({ snapshot, desired, filter: { address: "203.0.113.10" } });
  assert.deepEqual(byAddr.addresses.map((a) => a.address), ["203.0.113.10"]);
  assert.deepEqual(byAddr.ipsets.find((s) => s.name === "KUBE-LOAD-BALANCER")?.matching, [
    "203.0.113.10,tcp:80",
  ]);
  assert.deepEqual(
    buildDump({ snapshot, desired, filter: { namespace: "shop" } }).addresses.map((a) => a.address),
    ["10.96.0.30", "203.0.113.10"],
  );
});

Deno.test("checkFilter() needs a source for names and an IP for --address, and says which flag", () => {
  const usage = (re: RegExp) => (e: unknown) =>
    e instanceof KipvsError && e.code === "usage" && re.test(e.message);
  assert.throws(() => checkFilter({ namespace: "x" }, false), usage(/--namespace needs/));
  assert.throws(() => checkFilter({ service: "x" }, false), usage(/--service needs/));
  assert.throws(() => checkFilter({ address: "10.1" }, false), usage(/--address: "10\.1"/));
  assert.deepEqual(checkFilter({ address: "FD00::0:1" }, false), { address: "fd00::1" });
});

Deno.test("flagNames() names the sh and mh schedulers' flags as ipvsadm does", () => {
  assert.deepEqual(flagNames(0x1, "rr"), ["persistent"]);
  assert.deepEqual(flagNames(0x10, "mh"), ["mh-port"]);
  assert.deepEqual(flagNames(0x8 | 0x10, "sh"), ["sh-fallback", "sh-port"]);
  assert.deepEqual(flagNames(0x4 | 0x8, "rr"), ["one-packet", "flag-1"]);
});

Deno.test("dumpText() aligns the sections, counts empty sets, and colours only when asked", async () => {
  const state = scenario();
  const node = await fakeNode(state);
  const report = buildDump({ snapshot: await node.snapshot([4]), desired: desiredOf(state) });
  const text = dumpText(report, { color: false });
  assert.match(text, /^IPVS: 7 virtual servers, 8 real servers \(names from the source\)$/m);
  assert.match(
    text,
    /^SERVICE \/ VIRTUAL SERVER +KIND +SCHEDULER +FLAGS +WEIGHT +ACTIVE +INACTIVE +STATE$/m,
  );
  assert.match(text, /^ {2}UDP\/10\.96\.0\.53:53 +cluster-ip +rr +persistent 10800s$/m);
  assert.match(text, /^kube-ipvs0: down, 5 addresses$/m);
  assert.match(text, /^ipsets: 17 of kube-proxy's, 10 of them empty$/m);
  assert.doesNotMatch(text, /KUBE-EXTERNAL-IP /, "empty sets are not listed");
  assert.match(text, /^IPv4 +nat +KUBE-SERVICES +\d+$/m);
  assert.ok(!text.includes("\x1b["));
  assert.ok(dumpText(report, { color: true }).includes("\x1b[32mlocal"));
});

Deno.test("dumpEntries() gives -o ipvsadm the filtered table in ipvsadm -Sn's lines", async () => {
  const state = scenario();
  const node = await fakeNode(state);
  const snapshot = await node.snapshot();
  const report = buildDump({ snapshot, desired: desiredOf(state), filter: { service: "dns" } });
  assert.equal(
    formatRules(dumpEntries(report, snapshot)),
    "-A -u 10.96.0.53:53 -s rr -p 10800\n-a -u 10.96.0.53:53 -r 10.244.2.2:5353 -m -w 1\n",
  );
  const all = formatRules(dumpEntries(buildDump({ snapshot }), snapshot)).split("\n").sort();
  assert.deepEqual(all, formatRules(await node.dp.ipvs.readAll()).split("\n").sort());
});

Deno.test("dumpText() renders a table of 150,000 rows (no spread of every row into one call)", () => {
  const realServers = Array.from({ length: 150_000 }, (_, i) => ({
    address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
    port: 8080,
    weight: 1,
    activeConnections: 0,
    inactiveConnections: 0,
    draining: false,
  }));
  const text = dumpText({
    source: "kernel",
    groups: [{
      name: "TCP/10.96.0.10:80",
      virtualServers: [{
        key: "TCP/10.96.0.10:80",
        family: 4,
        kind: "cluster-ip",
        scheduler: "rr",
        flags: [],
        persistenceTimeout: 0,
        realServers,
      }],
    }],
    link: { exists: false, up: false },
    addresses: [],
    ipsets: [],
    chains: [],
    nft: { sets: [], chains: [] },
    sysctls: [],
    errors: [],
  }, { color: false });
  assert.match(text, /^IPVS: 1 virtual servers, 150000 real servers/);
});
