import { opsOf } from "../dataplane/ipset/_ops.ts";
import assert from "node:assert/strict";
import { type DiagDeps, dumpCommand, type DumpCommandOptions } from "../../src/cli/dump.ts";
import { KipvsError } from "../../src/errors.ts";
import { CONFIG, fakeNode, INTERFACES, scenario } from "../diag/_node.ts";

const base: DumpCommandOptions = {
  output: "table",
  diff: false,
  filter: {},
  config: CONFIG,
  color: false,
};

function deps(node: Awaited<ReturnType<typeof fakeNode>>, withSource = true): DiagDeps {
  return {
    openDataplane: () => Promise.resolve(node.diag),
    interfaces: () => INTERFACES,
    sysctls: () =>
      Promise.resolve([{
        key: "net.ipv4.vs.conntrack",
        want: "1",
        current: "1",
        state: "ok",
        reason: "",
      }]),
    ...(withSource ? { loadCluster: () => Promise.resolve(scenario()) } : {}),
  };
}

const usage = (re: RegExp) => (e: unknown) =>
  e instanceof KipvsError && e.code === "usage" && re.test(e.message);

Deno.test("kipvs dump prints the table by service with the source's names and exits 0", async () => {
  const node = await fakeNode(scenario());
  const r = await dumpCommand(base, deps(node));
  assert.equal(r.code, 0);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /^default\/web:http$/m);
  assert.match(r.stdout, /^net\.ipv4\.vs\.conntrack +1 +1 +ok$/m);
});

Deno.test("kipvs dump -o json and -o ipvsadm give the same table in machine forms", async () => {
  const node = await fakeNode(scenario());
  const j = JSON.parse((await dumpCommand({ ...base, output: "json" }, deps(node))).stdout);
  assert.equal(j.backend, "legacy");
  assert.equal(j.source, "plan");
  assert.deepEqual(j.groups.map((g: { name: string }) => g.name), [
    "default/empty:http",
    "default/web:http",
    "kube-system/dns:dns",
    "shop/lb:http",
  ]);
  const rules = (await dumpCommand({ ...base, output: "ipvsadm" }, deps(node, false))).stdout;
  assert.equal(rules.split("\n").filter((l) => l.startsWith("-A ")).length, 7);
  assert.equal(rules.split("\n").filter((l) => l.startsWith("-a ")).length, 8);
});

Deno.test("kipvs dump --diff exits 0 in step and 1 after an outside change, writing nothing", async () => {
  const node = await fakeNode(scenario());
  const inStep = await dumpCommand({ ...base, diff: true }, deps(node));
  assert.deepEqual([inStep.code, inStep.stdout], [0, "no changes: the node matches the plan\n"]);
  await node.dp.ipset.apply(opsOf("del KUBE-CLUSTER-IP 10.96.0.10,tcp:80\n"));
  const restores = node.dp.ipset.restores.length;
  const out = await dumpCommand({ ...base, diff: true }, deps(node));
  assert.equal(out.code, 1);
  assert.match(out.stdout, /^ {2}\+ KUBE-CLUSTER-IP 10\.96\.0\.10,tcp:80$/m);
  const j = JSON.parse(
    (await dumpCommand({ ...base, diff: true, output: "json" }, deps(node))).stdout,
  );
  assert.deepEqual([j.inSync, j.changes], [false, 1]);
  assert.equal(node.dp.ipset.restores.length, restores, "--diff writes nothing");
});

Deno.test("kipvs dump refuses --diff without a source, with -o ipvsadm or with filters, and names without a source", async () => {
  const node = await fakeNode(scenario());
  await assert.rejects(
    () => dumpCommand({ ...base, diff: true }, deps(node, false)),
    usage(/needs a source/),
  );
  await assert.rejects(
    () => dumpCommand({ ...base, diff: true, output: "ipvsadm" }, deps(node)),
    usage(/-o ipvsadm/),
  );
  await assert.rejects(
    () => dumpCommand({ ...base, diff: true, filter: { namespace: "x" } }, deps(node)),
    usage(/drop the filters/),
  );
  await assert.rejects(
    () => dumpCommand({ ...base, filter: { service: "web" } }, deps(node, false)),
    usage(/--service needs service names/),
  );
});

Deno.test("kipvs dump shows what it could read and exits 1 naming what it could not", async () => {
  const node = await fakeNode(scenario());
  const d = deps(node);
  d.openDataplane = () =>
    Promise.resolve({
      ...node.diag,
      ipvs: new KipvsError("kernel-unsupported", "no IPVS in this kernel"),
    });
  const r = await dumpCommand(base, d);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "kipvs dump: cannot read ipvs: no IPVS in this kernel\n");
  assert.match(r.stdout, /^kube-ipvs0: down, 5 addresses$/m);
  await assert.rejects(() => dumpCommand({ ...base, diff: true }, d), /no IPVS in this kernel/);
  const notRoot = await dumpCommand(base, { ...d, isRoot: false });
  assert.match(notRoot.stderr ?? "", /needs root \(CAP_NET_ADMIN\)\n$/);
});

Deno.test("kipvs dump shows the drift kipvs run repaired, or that it does not answer", async () => {
  const node = await fakeNode(scenario());
  const drift = {
    repairs: { ipvs: 2, ipset: 42 },
    last: {
      at: "2026-12-05T10:00:00.000Z",
      repairs: { ipset: 42 },
      objects: ["KUBE-CLUSTER-IP: 42 entries missing"],
      syncsInARow: 3,
      writer: "kube-proxy (its process is running (pid 7))",
    },
  };
  const withAgent = (agent: DiagDeps["agent"]) => ({ ...deps(node), agent });
  const text = (await dumpCommand(
    base,
    withAgent(() => Promise.resolve({ address: "127.0.0.1:10256", drift })),
  )).stdout;
  assert.match(
    text,
    /^kipvs run \(127\.0\.0\.1:10256\): drift repaired since it started: ipvs 2, ipset 42\n {2}last at 2026-12-05T10:00:00\.000Z, 3 syncs in a row; another writer: kube-proxy \(its process is running \(pid 7\)\)\n {4}KUBE-CLUSTER-IP: 42 entries missing$/m,
  );
  const json = JSON.parse(
    (await dumpCommand(
      { ...base, output: "json" },
      withAgent(() => Promise.resolve({ address: "127.0.0.1:10256", drift })),
    )).stdout,
  );
  assert.deepEqual(json.agent.drift, drift);
  const none = await dumpCommand(
    base,
    withAgent(() => Promise.resolve({ address: "127.0.0.1:10256" })),
  );
  assert.match(
    none.stdout,
    /^kipvs run \(127\.0\.0\.1:10256\): no drift repaired since it started$/m,
  );
  const down = await dumpCommand(
    base,
    withAgent(() => Promise.resolve({ address: "127.0.0.1:10256", error: "Connection refused" })),
  );
  assert.match(
    down.stdout,
    /^kipvs run \(127\.0\.0\.1:10256\): not answering \(Connection refused\)$/m,
  );
  assert.equal(down.code, 0, "kipvs run not answering is no failure of the dump");
});
