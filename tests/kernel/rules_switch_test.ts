// Switching rules backends on a live node, both ways, on the 6.12 kernel: iptables → nftables →
// iptables with `kipvs run --once` and the same manifests, while a TCP connection through a
// ClusterIP stays open and new connections (pod → ClusterIP, outside → NodePort) are opened every
// 100 ms. Each switch leaves only the new mode's objects, no connection breaks and no new one
// fails. The guest side is tests/kernel/guest/e2e_switch.sh.
import assert from "node:assert/strict";
import { assertGuestOk, runInGuest } from "./harness.ts";
import { cellEnv, matrixTest, NFTABLES_CELL } from "./matrix.ts";
import { fields, kipvsRun, section, sections, syncedLine } from "./e2e_output.ts";

matrixTest(
  "switching --rules-backend iptables → nftables → iptables keeps connections and serves throughout",
  async (t, cell) => {
    const r = await runInGuest({
      name: "rules-switch",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: '. "$GUEST_DIR/e2e_switch.sh"',
      timeoutMs: 240_000,
    });
    assertGuestOk(r, "switch script");
    const all = sections(r.stdout);
    const state = (name: string) =>
      Object.fromEntries([...fields(section(all, `state ${name}`))].map(([k, v]) => [k, v[0]]));

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
  },
  { cells: [NFTABLES_CELL] },
);
