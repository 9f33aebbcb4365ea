import assert from "node:assert/strict";
import { explainCommand, type ExplainCommandOptions } from "../../src/cli/explain.ts";
import { KipvsError } from "../../src/errors.ts";
import { CONFIG, fakeNode, INTERFACES, scenario } from "../diag/_node.ts";

const base: ExplainCommandOptions = {
  target: "tcp/10.96.0.10:80",
  bridged: false,
  output: "table",
  config: CONFIG,
  color: false,
};

async function run(o: Partial<ExplainCommandOptions>) {
  const node = await fakeNode(scenario());
  return explainCommand({ ...base, ...o }, {
    openDataplane: () => Promise.resolve(node.diag),
    interfaces: () => INTERFACES,
    sysctls: () => Promise.resolve([]),
    loadCluster: () => Promise.resolve(scenario()),
  });
}

const usage = (re: RegExp) => (e: unknown) =>
  e instanceof KipvsError && e.code === "usage" && re.test(e.message);

Deno.test("kipvs explain traces a packet and prints the answer", async () => {
  const r = await run({ from: "10.244.1.2" });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^service: default\/web:http, cluster-ip; /m);
  assert.match(r.stdout, /^answer: delivered to one of 2 real servers/m);
});

Deno.test("kipvs explain -o json carries the hooks, lookups and outcome", async () => {
  const j = JSON.parse(
    (await run({ target: "tcp/203.0.113.10:80", from: "192.0.2.7", output: "json" })).stdout,
  );
  assert.equal(j.outcome.kind, "dropped");
  assert.deepEqual(j.hooks.map((h: { hook: string }) => h.hook), [
    "nat/PREROUTING",
    "filter/INPUT",
  ]);
  assert.ok(j.lookups.some((l: { set: string }) => l.set === "KUBE-LOAD-BALANCER-SOURCE-CIDR"));
});

Deno.test("kipvs explain refuses a malformed target or a source of the other family, naming the value", async () => {
  await assert.rejects(
    () => run({ target: "icmp/10.96.0.10:80" }),
    usage(/unknown protocol "icmp"/),
  );
  await assert.rejects(
    () => run({ target: "tcp/10.96.0.10" }),
    usage(/invalid target "tcp\/10\.96\.0\.10"/),
  );
  await assert.rejects(() => run({ target: "tcp/fd00::1:80" }), usage(/IPv6 address in brackets/));
  await assert.rejects(() => run({ target: "udp/10.96.0.10:65536" }), usage(/port "65536"/));
  await assert.rejects(() => run({ from: "fd00::1" }), usage(/--from: fd00::1 is IPv6/));
  await assert.rejects(() => run({ from: "pod-a" }), usage(/--from: "pod-a" is not an IP/));
});
