import assert from "node:assert/strict";
import { sysctlCommand, type SysctlCommandOptions } from "../../src/cli/sysctl.ts";
import { FakeExec } from "../../src/dataplane/exec.ts";
import { FakeSysctl } from "../../src/dataplane/sysctl/io.ts";
import { KipvsError } from "../../src/errors.ts";

const base: SysctlCommandOptions = {
  mode: "check",
  output: "table",
  strictArp: false,
  localhostNodePorts: false,
  color: false,
};

function deps(io: FakeSysctl, isRoot = true, exec = new FakeExec()) {
  return {
    io,
    exec,
    kernelRelease: "6.1.176",
    isRoot,
    loadModule: (m: string) => Promise.resolve(io.load(m) ? undefined : `Module ${m} not found`),
    iptablesBackend: () => Promise.resolve("legacy" as const),
  };
}

function goodNode(): FakeSysctl {
  return new FakeSysctl({
    "net.ipv4.vs.conntrack": "1",
    "net.ipv4.vs.expire_nodest_conn": "1",
    "net.ipv4.vs.expire_quiescent_template": "1",
    "net.ipv4.vs.conn_reuse_mode": "1",
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
  });
}

Deno.test("sysctl --check exits 0 and says so when every setting is right", async () => {
  const r = await sysctlCommand(base, deps(goodNode()));
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^SETTING\s+WANTED\s+CURRENT\s+VERDICT\s+REASON$/m);
  assert.match(r.stdout, /all settings are right/);
});

Deno.test("sysctl --check without IPVS names the ip_vs module and exits 1", async () => {
  const r = await sysctlCommand(base, deps(new FakeSysctl({ "net.ipv4.ip_forward": "1" })));
  assert.equal(r.code, 1);
  assert.match(r.stderr ?? "", /IPVS is not available.*modprobe ip_vs/);
  assert.match(r.stdout, /net\.ipv4\.vs\.conntrack\s+1\s+\(missing\)\s+missing/);
});

Deno.test("sysctl --apply as non-root is a not-root error", async () => {
  await assert.rejects(
    () => sysctlCommand({ ...base, mode: "apply" }, deps(goodNode(), false)),
    (e: unknown) => e instanceof KipvsError && e.code === "not-root",
  );
});

Deno.test("sysctl --apply -o json reports each change with its old value", async () => {
  const io = goodNode();
  io.values.set("net.ipv4.ip_forward", "0");
  const r = await sysctlCommand({ ...base, mode: "apply", output: "json" }, deps(io));
  assert.equal(r.code, 0);
  const j = JSON.parse(r.stdout);
  assert.equal(j.ok, true);
  const fwd = j.settings.find((s: { key: string }) => s.key === "net.ipv4.ip_forward");
  assert.equal(fwd.changedFrom, "0");
  assert.equal(fwd.current, "1");
});

Deno.test("sysctl --check --localhost-nodeports wants the CVE-2020-8558 drop rule", async () => {
  const io = goodNode();
  io.values.set("net.ipv4.conf.all.route_localnet", "1");
  const exec = new FakeExec((c) =>
    c.program === "iptables-legacy-save" ? { stdout: "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n" } : {}
  );
  const r = await sysctlCommand({ ...base, localhostNodePorts: true }, deps(io, true, exec));
  assert.equal(r.code, 1);
  assert.match(r.stdout, /KUBE-FIREWALL localnet drop\s+present\s+absent\s+differs/);
});
