import assert from "node:assert/strict";
import { FakeSysctl } from "../../src/dataplane/sysctl/io.ts";
import { applySysctls, checkSysctls } from "../../src/dataplane/sysctl/reconcile.ts";
import { kernelAtLeast, wantedSettings } from "../../src/dataplane/sysctl/settings.ts";
import { FakeExec } from "../../src/dataplane/exec.ts";
import { SysctlProgram } from "../../src/dataplane/sysctl/io.ts";
import { KipvsError } from "../../src/errors.ts";

const IPVS_KEYS = [
  "net.ipv4.vs.conntrack",
  "net.ipv4.vs.expire_nodest_conn",
  "net.ipv4.vs.expire_quiescent_template",
  "net.ipv4.vs.conn_reuse_mode",
];

Deno.test("kernelAtLeast() compares major.minor of a kernel release", () => {
  assert.equal(kernelAtLeast("5.9.0-generic", 5, 9), true);
  assert.equal(kernelAtLeast("5.8.18", 5, 9), false);
  assert.equal(kernelAtLeast("6.1.176", 5, 9), true);
  assert.equal(kernelAtLeast("4.19.0", 5, 9), false);
  assert.equal(kernelAtLeast("garbage", 5, 9), false);
});

Deno.test("wantedSettings() sets conn_reuse_mode=0 only before 5.9", () => {
  const reuse = (rel: string) =>
    wantedSettings({ kernelRelease: rel }).find((s) => s.key === "net.ipv4.vs.conn_reuse_mode");
  assert.equal(reuse("5.4.0")?.want, "0");
  assert.equal(reuse("5.9.0")?.want, undefined);
  assert.match(reuse("6.1.0")?.reason ?? "", /left alone/);
});

Deno.test("wantedSettings() adds ARP and route_localnet settings only when asked", () => {
  const keys = (o: object) => wantedSettings({ kernelRelease: "6.1", ...o }).map((s) => s.key);
  assert.ok(!keys({}).includes("net.ipv4.conf.all.arp_ignore"));
  assert.ok(keys({ strictArp: true }).includes("net.ipv4.conf.all.arp_ignore"));
  assert.ok(keys({ strictArp: true }).includes("net.ipv4.conf.all.arp_announce"));
  assert.ok(keys({ localhostNodePorts: true }).includes("net.ipv4.conf.all.route_localnet"));
});

Deno.test("checkSysctls() reports ok, differs, missing and skipped", async () => {
  const io = new FakeSysctl({
    "net.ipv4.vs.conntrack": "1",
    "net.ipv4.vs.expire_nodest_conn": "0",
    "net.ipv4.vs.conn_reuse_mode": "1",
  });
  const v = await checkSysctls(io, wantedSettings({ kernelRelease: "6.1.0" }));
  const state = (k: string) => v.find((x) => x.key === k)?.state;
  assert.equal(state("net.ipv4.vs.conntrack"), "ok");
  assert.equal(state("net.ipv4.vs.expire_nodest_conn"), "differs");
  assert.equal(state("net.ipv4.ip_forward"), "missing");
  assert.equal(state("net.ipv4.vs.conn_reuse_mode"), "skipped");
});

Deno.test("applySysctls() writes only what differs and loads a missing key's module", async () => {
  const values: Record<string, string> = { "net.ipv4.ip_forward": "0" };
  for (const k of IPVS_KEYS) values[k] = "0";
  values["net.ipv4.vs.conntrack"] = "1";
  const io = new FakeSysctl(values, { br_netfilter: ["net.bridge.bridge-nf-call-iptables"] });
  const loaded: string[] = [];
  const loadModule = (m: string) => {
    loaded.push(m);
    return Promise.resolve(io.load(m) ? undefined : `module ${m} not found`);
  };
  const settings = wantedSettings({ kernelRelease: "6.1.0" });
  const v = await applySysctls({ io, settings, loadModule });
  assert.deepEqual(loaded, ["br_netfilter"]);
  assert.deepEqual(io.writes, [
    "net.ipv4.vs.expire_nodest_conn=1",
    "net.ipv4.vs.expire_quiescent_template=1",
    "net.ipv4.ip_forward=1",
    "net.bridge.bridge-nf-call-iptables=1",
  ]);
  assert.equal(v.find((x) => x.key === "net.ipv4.ip_forward")?.changedFrom, "0");
  assert.equal(io.values.get("net.ipv4.vs.conn_reuse_mode"), "0", "conn_reuse_mode left alone");
  io.writes.length = 0;
  await applySysctls({ io, settings, loadModule });
  assert.deepEqual(io.writes, [], "a second apply writes nothing");
});

Deno.test("applySysctls() reports a module that cannot be loaded in the reason", async () => {
  const io = new FakeSysctl({ "net.ipv4.ip_forward": "1" });
  const v = await applySysctls({
    io,
    settings: wantedSettings({ kernelRelease: "6.1.0" }),
    loadModule: (m) => Promise.resolve(`FATAL: Module ${m} not found`),
  });
  const bridge = v.find((x) => x.key === "net.bridge.bridge-nf-call-iptables");
  assert.equal(bridge?.state, "missing");
  assert.match(bridge?.reason ?? "", /modprobe br_netfilter: FATAL: Module br_netfilter not found/);
});

Deno.test("SysctlProgram writes every key in one sysctl -w and names them all when one is refused", async () => {
  const exec = new FakeExec((c) =>
    c.args.includes("net.ipv4.vs.conntrack=1")
      ? { code: 255, stderr: "sysctl: cannot stat /proc/sys/net/ipv4/vs/conntrack: No such file" }
      : { code: 0 }
  );
  const io = new SysctlProgram(exec);
  await io.writeAll(
    new Map([["net.ipv4.ip_forward", "1"], ["net.ipv4.vs.expire_nodest_conn", "1"]]),
  );
  assert.deepEqual(exec.calls.map((c) => [c.program, ...c.args]), [
    ["sysctl", "-w", "net.ipv4.ip_forward=1", "net.ipv4.vs.expire_nodest_conn=1"],
  ]);
  await assert.rejects(
    () => io.writeAll(new Map([["net.ipv4.ip_forward", "1"], ["net.ipv4.vs.conntrack", "1"]])),
    (e: unknown) =>
      e instanceof KipvsError && e.code === "io" &&
      /net\.ipv4\.ip_forward=1 net\.ipv4\.vs\.conntrack=1: sysctl: cannot stat/.test(e.message),
  );
});

Deno.test("applySysctls() writes every differing key with one program and reads them back with one", async () => {
  const reads: string[][] = [];
  const writes: string[][] = [];
  const exec = new FakeExec((c) => {
    if (c.args[0] === "-w") writes.push(c.args.slice(1));
    else reads.push(c.args.slice(1));
    const set = writes.length > 0;
    return {
      stdout: c.args.slice(1).map((k) => `${k} = ${set ? 1 : 0}`).join("\n") + "\n",
    };
  });
  const settings = wantedSettings({ kernelRelease: "6.1.0" });
  await applySysctls({
    io: new SysctlProgram(exec),
    settings,
    loadModule: () => Promise.resolve(undefined),
  });
  assert.equal(exec.calls.length, 3, exec.calls.map((c) => c.args.join(" ")).join("\n"));
  assert.equal(writes.length, 1);
  assert.ok(writes[0]!.length >= 4, `one write of every differing key: ${writes[0]}`);
});

Deno.test("SysctlProgram reads all keys with one sysctl -e and writes with sysctl -w", async () => {
  const exec = new FakeExec((c) =>
    c.args[0] === "-e"
      ? { stdout: "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 0\n" }
      : { code: 0 }
  );
  const io = new SysctlProgram(exec);
  const got = await io.read(["net.ipv4.ip_forward", "net.ipv4.vs.conntrack", "net.nope"]);
  assert.deepEqual([...got], [["net.ipv4.ip_forward", "1"], ["net.ipv4.vs.conntrack", "0"]]);
  await io.write("net.ipv4.ip_forward", "1");
  assert.deepEqual(exec.calls.map((c) => [c.program, ...c.args]), [
    ["sysctl", "-e", "net.ipv4.ip_forward", "net.ipv4.vs.conntrack", "net.nope"],
    ["sysctl", "-w", "net.ipv4.ip_forward=1"],
  ]);
});
