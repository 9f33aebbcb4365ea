import assert from "node:assert/strict";
import { buildTop } from "../../src/diag/top.ts";
import { siBytes, siCount, topText } from "../../src/diag/top_text.ts";
import { parseInterval, topCommand, type TopCommandOptions } from "../../src/cli/top.ts";
import type { Screen } from "../../src/cli/screen.ts";
import { KipvsError } from "../../src/errors.ts";
import { CONFIG, desiredOf, fakeNode, INTERFACES, scenario } from "./_node.ts";

const tcp = (address: string, port: number) => ({
  family: 4 as const,
  protocol: "TCP" as const,
  address,
  port,
});

/** The scenario node with traffic on default/web (cluster IP and node port) and shop/lb. */
async function busyNode() {
  const node = await fakeNode(scenario());
  const ipvs = node.dp.ipvs;
  ipvs.setServiceStats(tcp("10.96.0.10", 80), {
    cps: 30,
    ppsIn: 300,
    bpsIn: 30_000,
    connections: 900,
  });
  ipvs.setServiceStats(tcp("192.168.1.10", 30080), { cps: 5, ppsIn: 50, bpsIn: 5_000 });
  ipvs.setServiceStats(tcp("203.0.113.10", 80), { cps: 100, ppsOut: 2_500, bpsOut: 3_000_000 });
  ipvs.setDestinationStatus(tcp("10.96.0.10", 80), { address: "10.244.1.2", port: 8080 }, {
    activeConnections: 3,
    inactiveConnections: 7,
  });
  ipvs.setDestinationStatus(tcp("192.168.1.10", 30080), { address: "10.244.1.2", port: 8080 }, {
    activeConnections: 1,
  });
  return node;
}

Deno.test("buildTop() sums a service port's virtual servers (cluster IP, node port) under its name, busiest first", async () => {
  const node = await busyNode();
  const entries = await node.dp.ipvs.readAll();
  const r = buildTop({ entries, desired: desiredOf(scenario()), ipsets: new Map() });
  assert.equal(r.source, "plan");
  assert.deepEqual(r.rows.map((x) => [x.name, x.cps]), [
    ["shop/lb:http", 100],
    ["default/web:http", 35],
    ["default/empty:http", 0],
    ["kube-system/dns:dns", 0],
  ]);
  const web = r.rows[1]!;
  assert.deepEqual(web.virtualServers, ["TCP/10.96.0.10:80", "TCP/192.168.1.10:30080"]);
  assert.deepEqual([web.ppsIn, web.bpsIn, web.active, web.inactive, web.connections], [
    350,
    35_000,
    4,
    7,
    900,
  ]);
  // One real server row per endpoint, its connections summed over both virtual servers.
  const pod = web.realServers.find((x) => x.address === "10.244.1.2")!;
  assert.deepEqual([pod.port, pod.active, pod.inactive], [8080, 4, 7]);
  assert.equal(web.realServers.length, 2);
});

Deno.test("buildTop() without a source names rows from kube-proxy's sets, as dump does, and sorts and filters", async () => {
  const node = await busyNode();
  const entries = await node.dp.ipvs.readAll();
  const ipsets = await node.dp.ipset.save();
  const r = buildTop({ entries, ipsets, sort: "pps-in" });
  assert.equal(r.source, "kernel");
  // The node port is grouped under the cluster IP that holds all of its real servers.
  const web = r.rows.find((x) => x.name === "TCP/10.96.0.10:80")!;
  assert.equal(web.cps, 35);
  assert.equal(r.rows[0]!.name, "TCP/10.96.0.10:80");
  const byName = buildTop({ entries, ipsets, sort: "name" }).rows.map((x) => x.name);
  assert.deepEqual(byName, [...byName].sort());
  const shop = buildTop({
    entries,
    desired: desiredOf(scenario()),
    ipsets,
    filter: { namespace: "shop" },
  });
  assert.deepEqual(shop.rows.map((x) => x.name), ["shop/lb:http"]);
});

Deno.test("topText() aligns numbers right with SI suffixes and shows real servers when asked", async () => {
  assert.deepEqual([siCount(999), siCount(1234), siCount(56_789), siBytes(3_000_000)], [
    "999",
    "1.2k",
    "57k",
    "3.0MB",
  ]);
  const node = await busyNode();
  const r = buildTop({
    entries: await node.dp.ipvs.readAll(),
    desired: desiredOf(scenario()),
    ipsets: new Map(),
  });
  const text = topText(r, { endpoints: true, color: false });
  const lines = text.split("\n");
  assert.match(lines[0]!, /^SERVICE +CONN\/S +PKT\/S IN +PKT\/S OUT +BYTES\/S IN/);
  assert.match(text, /^shop\/lb:http +100 +0 +2\.5k +0B +3\.0MB +0 +0 +0$/m);
  assert.match(text, /^ {2}-> 10\.244\.1\.2:8080 +0 +0 +0 +0B +0B +4 +7 +0$/m);
  // Right-aligned: every row ends in the CONNS column at the same place.
  const ends = lines.filter(Boolean).map((l) => l.length);
  assert.equal(new Set(ends).size, 1, text);
  const cut = topText(r, { endpoints: true, color: false, maxLines: 4 });
  assert.match(cut, /\n\.\.\. \d+ more\n$/);
  assert.equal(cut.trimEnd().split("\n").length, 4);
});

const base: TopCommandOptions = {
  once: true,
  output: "table",
  intervalMs: 2000,
  sort: "cps",
  endpoints: false,
  filter: {},
  config: CONFIG,
  color: false,
};

function deps(node: Awaited<ReturnType<typeof busyNode>>, extra = {}) {
  let out = "";
  return {
    out: () => out,
    deps: {
      openDataplane: () => Promise.resolve(node.diag),
      interfaces: () => INTERFACES,
      loadCluster: () => Promise.resolve(scenario()),
      write: (s: string) => void (out += s),
      stop: new Promise(() => {}),
      now: () => new Date("2026-12-05T10:00:00Z"),
      ...extra,
    },
  };
}

Deno.test("kipvs top --once prints one snapshot; -o json one document", async () => {
  const node = await busyNode();
  const d = deps(node);
  const r = await topCommand(base, d.deps);
  assert.equal(r.code, 0);
  assert.match(
    d.out(),
    /^kipvs top {2}2026-12-05 10:00:00 UTC {2}4 service port\(s\) by cps/,
  );
  assert.match(d.out(), /^shop\/lb:http +100 /m);
  const j = deps(node);
  await topCommand({ ...base, output: "json", filter: { service: "web" } }, j.deps);
  const doc = JSON.parse(j.out());
  assert.deepEqual([doc.time, doc.source, doc.rows.length, doc.rows[0].cps], [
    "2026-12-05T10:00:00.000Z",
    "plan",
    1,
    35,
  ]);
  await assert.rejects(
    () =>
      topCommand({ ...base, filter: { namespace: "shop" } }, { ...d.deps, loadCluster: undefined }),
    (e: unknown) => e instanceof KipvsError && /--namespace needs service names/.test(e.message),
  );
});

Deno.test("kipvs top live on a terminal: redraws, e shows real servers, s sorts by the next column, q ends", async () => {
  const node = await busyNode();
  const keys = ["e", "s", "q"];
  const frames: string[] = [];
  let closed = false;
  const screen: Screen = {
    rows: () => 40,
    draw: (t) => void frames.push(t),
    key: () => Promise.resolve(keys.shift()!),
    close: () => void (closed = true),
  };
  const d = deps(node, { screen: () => screen });
  const r = await topCommand({ ...base, once: false, intervalMs: 60_000 }, d.deps);
  assert.equal(r.code, 0);
  assert.equal(frames.length, 3);
  assert.doesNotMatch(frames[0]!, /-> 10\.244\.1\.2:8080/);
  assert.match(frames[1]!, /-> 10\.244\.1\.2:8080/);
  assert.match(frames[2]!, / by pps-in/);
  assert.match(frames[2]!, /keys: q quit/);
  assert.ok(closed, "the terminal is given back");
  assert.equal(d.out(), "", "a screen draws, nothing else is written");
});

Deno.test("kipvs top live without a terminal prints a snapshot each interval until stopped", async () => {
  const node = await busyNode();
  let stop!: () => void;
  const stopped = new Promise<void>((r) => stop = r);
  const d = deps(node, { stop: stopped, screen: () => undefined });
  const run = topCommand({ ...base, once: false, intervalMs: 100 }, d.deps);
  await new Promise((r) => setTimeout(r, 250));
  stop();
  await run;
  const n = d.out().split("kipvs top ").length - 1;
  assert.ok(n >= 2 && n <= 4, `${n} snapshots:\n${d.out()}`);
});

Deno.test("parseInterval() takes Go durations and seconds, at least 100 ms", () => {
  assert.deepEqual([parseInterval("2s"), parseInterval("500ms"), parseInterval("1.5")], [
    2000,
    500,
    1500,
  ]);
  for (const bad of ["0", "50ms", "soon", "-1"]) {
    assert.throws(() => parseInterval(bad), /--interval: .* is not a duration of at least 100ms/);
  }
});
