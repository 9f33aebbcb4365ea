// The nftables rules backend on the 6.12 kernel, in one guest boot (tests/kernel/guest/
// e2e_switch.sh, then diag_nft.sh on the same node):
// - switching --rules-backend iptables → nftables → iptables with `kipvs run --once` and the same
//   manifests, while a TCP connection through a ClusterIP stays open and new connections (pod →
//   ClusterIP, outside → NodePort, a pod to itself) are opened every 100 ms: each switch leaves
//   only the new mode's objects, no connection breaks and no new one fails;
// - then back in nftables mode: elements of every set kind over netlink, `kipvs dump`,
//   `dump --diff`, `explain`, `sysctl --localhost-nodeports` and `cleanup`, none of them told the
//   backend.
import assert from "node:assert/strict";
import { assertGuestOk, runInGuest } from "./harness.ts";
import { cellEnv, matrixTest, NFTABLES_CELL } from "./matrix.ts";
import { fields, kipvsRun, section, sections, syncedLine } from "./e2e_output.ts";

interface Trace {
  hooks: { hook: string; steps: { chain: string; rule: string }[] }[];
  lookups: { set: string; element: string; found?: boolean }[];
  outcome: { kind: string; hook?: string; rule?: string };
  notes: string[];
}

matrixTest(
  "nftables mode: switching backends both ways keeps connections; dump, --diff, explain, cleanup",
  async (t, cell) => {
    const r = await runInGuest({
      name: "nftables",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: '. "$GUEST_DIR/e2e_switch.sh"; . "$GUEST_DIR/diag_nft.sh"',
      timeoutMs: 420_000,
    });
    assertGuestOk(r, "nftables script");
    const all = sections(r.stdout);
    const state = (name: string) =>
      Object.fromEntries([...fields(section(all, `state ${name}`))].map(([k, v]) => [k, v[0]]));
    const s = (n: string) => section(all, n);
    const rc = (n: string) => /rc=(\d+)/.exec(s(n))?.[1];
    const json = <T>(n: string) => JSON.parse(s(n)) as T;

    await t.step("every run succeeds; rerunning nftables mode writes nothing", () => {
      for (const name of ["iptables", "to-nftables", "nftables-rerun", "to-iptables"]) {
        const run = kipvsRun(all, name);
        assert.equal(run.rc, 0, run.text);
      }
      assert.equal(syncedLine(kipvsRun(all, "nftables-rerun")).writes, 0);
    });

    await t.step("each mode leaves only its own objects", () => {
      assert.deepEqual(state("iptables"), { ipsets: "34", chains: "22", tables: "0" });
      assert.deepEqual(state("nftables"), { ipsets: "0", chains: "0", tables: "2" });
      assert.deepEqual(state("iptables-again"), state("iptables"));
    });

    await t.step("kipvs's base chains hook where iptables' nat and filter chains do", () => {
      // "prerouting -0000000100 nat PREROUTING" (filter hooks), "prerouting dstnat nat PREROUTING"
      // (nat chains, from their declaration): hook, priority, table, chain.
      const hooks = section(all, "hooks").split("\n").map((l) => l.split(" "));
      const at = (table: string, chain: string) =>
        hooks.find((h) => h[2] === table && h[3] === chain)?.slice(0, 2).join(" ");
      // iptables-nft makes a built-in chain only once a rule uses it: compare where it exists.
      const same = (kipvs: string, table: string, ipt: string) => {
        const theirs = at(table, ipt);
        assert.ok(at("kipvs", kipvs), `${kipvs} hooked:\n${section(all, "hooks")}`);
        if (theirs) assert.equal(at("kipvs", kipvs), theirs, section(all, "hooks"));
      };
      assert.ok(at("nat", "PREROUTING") && at("filter", "INPUT"), section(all, "hooks"));
      assert.equal(at("kipvs", "nat-prerouting"), "prerouting dstnat", section(all, "hooks"));
      for (
        const [kipvs, ipt] of [
          ["nat-prerouting", "PREROUTING"],
          ["nat-output", "OUTPUT"],
          ["nat-postrouting", "POSTROUTING"],
        ] as const
      ) same(kipvs, "nat", ipt);
      for (
        const [kipvs, ipt] of [
          ["filter-input", "INPUT"],
          ["filter-forward", "FORWARD"],
          ["filter-output", "OUTPUT"],
        ] as const
      ) same(kipvs, "filter", ipt);
    });

    await t.step("no new connection failed during the switches", () => {
      const p = fields(section(all, "probes"));
      assert.ok(Number(p.get("total")?.[0]) > 20, section(all, "probes"));
      assert.equal(p.get("failed")?.[0], "0", section(all, "probes"));
    });

    await t.step("the connection opened before the switches is still answered after both", () => {
      const hold = section(all, "hold");
      assert.match(hold, /^held \d+$/m, hold);
      const after = Number(/after-switch-ms (\d+)/.exec(hold)?.[1]);
      assert.ok(after > 1000, `the hold ended ${after} ms after the last switch:\n${hold}`);
    });

    assert.equal(kipvsRun(all, "nft").rc, 0, kipvsRun(all, "nft").text);
    await t.step("elements of every set kind are added and deleted over netlink", () => {
      const e = s("elements");
      assert.doesNotMatch(e, /^error/m, e);
      assert.match(e, /added 4\/cluster-ip: .*10\.96\.9\.9 \. sctp \. 9/, e);
      assert.match(e, /added 4\/ipvs-ips: .*10\.96\.9\.9/, e);
      assert.match(e, /added 4\/node-port-udp: .*30999/, e);
      assert.match(e, /added 4\/loop-back: .*10\.244\.9\.9 \. udp \. 53 \. 10\.244\.9\.9/, e);
      assert.match(
        e,
        /added 4\/load-balancer-source-cidr: .*203\.0\.113\.99 \. tcp \. 443 \. 10\.128\.0\.0\/9/,
        e,
      );
      assert.match(
        e,
        /added 6\/load-balancer-source-cidr: .*2001:db8::99 \. tcp \. 443 \. 2001:db8:1::\/48/,
        e,
      );
      for (const x of ["10.96.9.9", "30999", "10.244.9.9", "203.0.113.99", "2001:db8::99"]) {
        assert.doesNotMatch(
          e.split("\n").filter((l) => l.startsWith("deleted")).join("\n"),
          new RegExp(x.replaceAll(".", "\\.")),
          e,
        );
      }
    });

    await t.step("dump lists kipvs's nft sets with element counts and its chains", () => {
      assert.match(s("dump"), /nftables sets: 34 in ip kipvs, ip6 kipvs/, s("dump"));
      assert.match(
        s("dump"),
        /ip kipvs\s+cluster-ip\s+ipv4_addr \. inet_proto \. inet_service\s+9\b/,
      );
      assert.match(s("dump"), /ip kipvs\s+nat-prerouting\s+nat prerouting dstnat\s+1\b/);
      const d = json<{ nft: { sets: { table: string; name: string; elements: number }[] } }>(
        "dump-json",
      );
      const lb = d.nft.sets.find((x) => x.table === "ip kipvs" && x.name === "load-balancer-fw");
      assert.equal(lb?.elements, 1);
    });

    await t.step("dump --diff: in step, then the drift named, then in step after a sync", () => {
      assert.equal(rc("diff-same"), "0", s("diff-same"));
      assert.equal(rc("diff-drift"), "1", s("diff-drift"));
      assert.match(
        s("diff-drift"),
        /\+ add element ip kipvs cluster-ip \{ 10\.96\.0\.11 \. tcp \. 80 \}/,
      );
      assert.match(s("diff-drift"), /flush chain ip kipvs services/);
      assert.equal(rc("diff-repaired"), "0", s("diff-repaired"));
    });

    await t.step("explain walks the base chains, chains and set lookups by their nft names", () => {
      const e = json<Trace>("explain-cluster");
      assert.equal(e.outcome.kind, "balanced", s("explain-cluster-text"));
      assert.equal(e.hooks[0]?.hook, "nat-prerouting (hook prerouting priority dstnat)");
      const chains = new Set(e.hooks.flatMap((h) => h.steps.map((x) => x.chain)));
      assert.ok(chains.has("services") && chains.has("nat-prerouting"), [...chains].join(" "));
      assert.ok(
        e.lookups.some((l) => l.set === "cluster-ip" && l.found === true),
        JSON.stringify(e.lookups),
      );
      assert.ok(e.notes.some((n) => n.includes("nftables")), e.notes.join("\n"));
      assert.match(s("explain-cluster-text"), /ip daddr \. meta l4proto \. th dport @cluster-ip/);
    });

    await t.step("explain: a source outside the LB's ranges meets the firewall's drop", () => {
      const e = json<Trace>("explain-lb-denied");
      assert.equal(e.outcome.kind, "dropped", JSON.stringify(e.outcome));
      assert.equal(e.outcome.rule, "drop");
    });

    await t.step("explain: another port of a kube-ipvs0 address meets ipvs-filter's reject", () => {
      const e = json<Trace>("explain-vip-port");
      assert.equal(e.outcome.kind, "rejected", JSON.stringify(e.outcome));
      assert.equal(e.outcome.rule, "ct state new ip daddr @ipvs-ips reject");
    });

    await t.step("sysctl --localhost-nodeports puts its guard in ip kipvs-localnet, once", () => {
      assert.equal(rc("guard-apply"), "0", s("guard-apply"));
      assert.match(
        s("guard-apply"),
        /nftables: ip kipvs-localnet localnet drop .*absent -> present/,
      );
      assert.doesNotMatch(s("guard-again"), /absent -> present/, s("guard-again"));
      assert.equal(rc("guard-check"), "0", s("guard-check"));
      assert.match(s("guard-table"), /hook input priority filter/);
      assert.match(
        s("guard-table"),
        /ip daddr 127\.0\.0\.0\/8 .*drop comment "block incoming localnet connections"/,
      );
    });

    await t.step("cleanup removes the tables; a second run finds nothing", () => {
      assert.equal(rc("cleanup"), "0", s("cleanup"));
      assert.match(
        s("cleanup"),
        /nftables tables\s+ip kipvs ip6 kipvs ip kipvs-localnet/,
        s("cleanup"),
      );
      assert.doesNotMatch(s("tables"), /kipvs/);
      assert.match(s("cleanup-again"), /nothing to remove/);
      assert.equal(rc("cleanup-again"), "0");
    });
  },
  { cells: [NFTABLES_CELL] },
);
