import assert from "node:assert/strict";
import { FakeExec } from "../../src/dataplane/exec.ts";
import { KernelIpset } from "../../src/dataplane/ipset/ipset.ts";
import { KernelIptables } from "../../src/dataplane/iptables/iptables.ts";
import { Logger } from "../../src/log.ts";
import { IptablesLeftovers } from "../../src/reconcile/mode_cleanup.ts";
import { emptyReport } from "../../src/reconcile/report.ts";
import type { DesiredState } from "../../src/plan/desired.ts";

const scope = () => ({
  desired: { families: [4, 6] } as unknown as DesiredState,
  report: emptyReport(true),
  failures: [] as string[],
  record: true,
});

Deno.test("iptables leftovers: a node without iptables or ipset programs has nothing to remove", async () => {
  // What SystemExec answers for a program it cannot start.
  const exec = new FakeExec((c) => ({ code: -1, stderr: `cannot run ${c.program}: not found` }));
  const rec = new IptablesLeftovers({
    iptables: new KernelIptables({ exec, backend: "nft" }),
    ipset: new KernelIpset(exec),
    logger: new Logger({ level: "error" }),
  });
  const s = scope();
  assert.deepEqual(await rec.prune(s), []);
  assert.deepEqual(s.failures, []);
  // Done for this process: the next full sync runs nothing.
  exec.calls.length = 0;
  await rec.prune(scope());
  assert.equal(exec.calls.length, 0);
});

Deno.test("iptables leftovers: KUBE-* chains and sets go, other tools' stay", async () => {
  const save4 = [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":KUBE-SERVICES - [0:0]",
    ":OTHER - [0:0]",
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    "-A OTHER -j ACCEPT",
    "COMMIT",
    "",
  ].join("\n");
  const exec = new FakeExec((c) => {
    if (c.program === "iptables-nft-save") return { code: 0, stdout: save4 };
    if (c.program === "ip6tables-nft-save") return { code: 0, stdout: "" };
    if (c.program === "ipset" && c.args[0] === "save") {
      return {
        code: 0,
        stdout:
          "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\ncreate other hash:ip family inet hashsize 1024 maxelem 65536\n",
      };
    }
    return { code: 0 };
  });
  const rec = new IptablesLeftovers({
    iptables: new KernelIptables({ exec, backend: "nft" }),
    ipset: new KernelIpset(exec),
    logger: new Logger({ level: "error" }),
  });
  const s = scope();
  const writes = await rec.prune(s);
  assert.deepEqual(writes.map((w) => w.object), ["4/nat/KUBE-SERVICES", "KUBE-CLUSTER-IP"]);
  const restore = exec.calls.find((c) => c.program === "iptables-nft-restore")!;
  assert.match(restore.stdin!, /^-D PREROUTING .*-j KUBE-SERVICES$/m);
  assert.doesNotMatch(restore.stdin!, /OTHER/);
  const destroy = exec.calls.find((c) => c.program === "ipset" && c.args[0] === "restore")!;
  assert.match(destroy.stdin!, /destroy KUBE-CLUSTER-IP/);
  assert.doesNotMatch(destroy.stdin!, /other/);
  assert.deepEqual(s.failures, []);
});
