/**
 * Guest-side helper of tests/kernel/rules_test.ts: applies ipsets and iptables rules with
 * kipvs's backends (iptables through the cell's backend, KIPVS_BACKEND) and prints the sync
 * result as JSON.
 *
 * usage: deno run -A rules_apply.ts '{"sets": {"KUBE-CLUSTER-IP": ["10.96.0.10,tcp:80"]},
 *          "families": [4], "clusterCIDRs": ["10.244.0.0/16"]}'
 */
import { SystemExec } from "../../../src/dataplane/exec.ts";
import { setsOf } from "../../dataplane/ipset/_ops.ts";
import { KernelIpset } from "../../../src/dataplane/ipset/ipset.ts";
import { KernelIptables } from "../../../src/dataplane/iptables/iptables.ts";
import { syncSetsAndRules } from "../../reconcile/_sets_and_rules.ts";

const input = JSON.parse(Deno.args[0] ?? "{}") as {
  sets: Record<string, string[]>;
  families: (4 | 6)[];
  clusterCIDRs?: string[];
  masqueradeAll?: boolean;
};
const exec = new SystemExec();
const r = await syncSetsAndRules({
  ipset: new KernelIpset(exec),
  iptables: new KernelIptables({
    exec,
    backend: Deno.env.get("KIPVS_BACKEND") === "nft" ? "nft" : "legacy",
  }),
  desired: {
    ipsets: setsOf(input.sets),
    families: input.families,
  },
  config: {
    masqueradeAll: input.masqueradeAll ?? false,
    masqueradeBit: 14,
    clusterCIDRs: input.clusterCIDRs ?? [],
  },
});
console.log(JSON.stringify({ writes: r.writes }));
