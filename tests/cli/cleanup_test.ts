import assert from "node:assert/strict";
import { cleanupCommand, type CleanupCommandOptions } from "../../src/cli/cleanup.ts";
import { KipvsError } from "../../src/errors.ts";
import { fakeNode, INTERFACES, scenario } from "../diag/_node.ts";

const base: CleanupCommandOptions = {
  excludeCIDRs: [],
  dryRun: false,
  output: "table",
  color: false,
};

function deps(node: Awaited<ReturnType<typeof fakeNode>>, isRoot = true) {
  return { openDataplane: () => Promise.resolve(node.diag), interfaces: () => INTERFACES, isRoot };
}

Deno.test("kipvs cleanup reports what it removed, then nothing to remove (exit 0 both times)", async () => {
  const node = await fakeNode(scenario());
  const first = await cleanupCommand(base, deps(node));
  assert.equal(first.code, 0);
  assert.match(first.stdout, /^removed +virtual servers +TCP\/10\.96\.0\.10:80 /m);
  assert.match(first.stdout, /^removed +link +kube-ipvs0 \(with 5 addresses\)$/m);
  assert.match(first.stdout, /^removed +chains IPv4 nat +KUBE-SERVICES KUBE-POSTROUTING /m);
  assert.match(first.stdout, /^removed +jump rules IPv4 nat +PREROUTING->KUBE-SERVICES /m);
  assert.match(
    first.stdout,
    /^removed 7 virtual server\(s\), kube-ipvs0, 11 chain\(s\), 9 jump rule\(s\), 17 ipset\(s\)$/m,
  );
  const second = await cleanupCommand(base, deps(node));
  assert.deepEqual(
    [second.code, second.stdout],
    [0, "nothing to remove: no kipvs or kube-proxy (IPVS mode) state on this node\n"],
  );
});

Deno.test("kipvs cleanup --dry-run removes nothing and may run without root", async () => {
  const node = await fakeNode(scenario());
  const r = await cleanupCommand({ ...base, dryRun: true, output: "json" }, deps(node, false));
  const j = JSON.parse(r.stdout);
  assert.deepEqual([j.dryRun, j.nothingToRemove, j.removed.virtualServers.length], [
    true,
    false,
    7,
  ]);
  assert.equal((await node.dp.ipvs.readAll()).length, 7);
  await assert.rejects(
    () => cleanupCommand(base, deps(node, false)),
    (e: unknown) => e instanceof KipvsError && e.code === "not-root",
  );
});

Deno.test("kipvs cleanup on a kernel without IPVS still removes the rest", async () => {
  const node = await fakeNode(scenario());
  const d = deps(node);
  d.openDataplane = () =>
    Promise.resolve({ ...node.diag, ipvs: new KipvsError("kernel-unsupported", "no IPVS") });
  const r = await cleanupCommand({ ...base, output: "json" }, d);
  const j = JSON.parse(r.stdout);
  assert.equal(r.code, 0);
  assert.deepEqual([j.removed.virtualServers, j.removed.sets.length], [[], 17]);
});

Deno.test("kipvs cleanup exits 1 and names the failure when a step fails, after doing the rest", async () => {
  const node = await fakeNode(scenario());
  const d = deps(node);
  const iptables = node.diag.iptables;
  d.openDataplane = () =>
    Promise.resolve({
      ...node.diag,
      iptables: {
        save: (f: 4 | 6) => iptables.save(f),
        restore: () =>
          Promise.reject(new KipvsError("exec", "iptables-legacy-restore: line 2 failed")),
        hasRandomFully: () => Promise.resolve(true),
      },
    });
  const r = await cleanupCommand(base, d);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr ?? "",
    /kipvs cleanup: iptables \(IPv4\): iptables-legacy-restore: line 2 failed/,
  );
  assert.match(
    r.stdout,
    /kept +ipset +KUBE-CLUSTER-IP: still used by rule in /,
    "sets in use stay",
  );
  assert.equal((await node.dp.ipvs.readAll()).length, 0, "the virtual servers went first");
});

Deno.test("kipvs cleanup leaves what it cannot read, removes the rest, and exits 1 naming it", async () => {
  const node = await fakeNode(scenario());
  const d = deps(node);
  const iptables = node.diag.iptables;
  d.openDataplane = () =>
    Promise.resolve({
      ...node.diag,
      iptables: {
        save: (f: 4 | 6) =>
          f === 6
            ? Promise.reject(new KipvsError("exec", "ip6tables-legacy-save exited with 1"))
            : iptables.save(f),
        restore: (f: 4 | 6, p: string) => iptables.restore(f, p),
        hasRandomFully: () => Promise.resolve(true),
      },
    });
  const r = await cleanupCommand({ ...base, output: "json" }, d);
  const j = JSON.parse(r.stdout);
  assert.equal(r.code, 1);
  assert.equal(j.removed.errors[0], "cannot read iptables: ip6tables-legacy-save exited with 1");
  assert.equal(j.removed.virtualServers.length, 7, "IPVS is still cleaned");
  assert.ok(j.removed.chains.length > 0, "and IPv4's chains");
  assert.deepEqual(j.removed.sets, [], "no set is destroyed while IPv6's rules are unknown");
});
