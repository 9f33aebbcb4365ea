// End to end, one guest boot: `kipvs run --manifests --once` programs the node from
// tests/kernel/testdata/e2e/traffic, and real TCP and UDP clients (tests/kernel/guest/client.py,
// which prints the pod that answered) reach every kind of service from the node, from a pod and
// from outside clients on the node's uplink, in each cell of the matrix. The guest side is
// tests/kernel/guest/e2e_traffic.sh.
import assert from "node:assert/strict";
import { assertGuestOk, runInGuest } from "./harness.ts";
import { type Cell, cellEnv, CELLS, matrixTest, NFTABLES_CELL } from "./matrix.ts";
import { fields, kipvsRun, probes, section, sections, syncedLine, tally } from "./e2e_output.ts";

matrixTest(
  "kipvs run --once programs a node that serves real traffic for every kind of service",
  async (t, cell) => {
    const r = await runInGuest({
      name: "e2e-traffic",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: '. "$GUEST_DIR/e2e_traffic.sh"',
      timeoutMs: 150_000,
    });
    assertGuestOk(r, "e2e traffic script");
    const all = sections(r.stdout);
    const traffic = probes(section(all, "traffic"));
    /** The answers of one probe; a failure shows the whole traffic section. */
    const answers = (name: string) =>
      traffic.get(name) ?? assert.fail(`no probe ${name}:\n${section(all, "traffic")}`);
    const context = (name: string) => `${name}: ${answers(name).join(", ")}`;
    /** Round robin over the endpoints: each answered equally often, nobody else answered. */
    const balanced = (name: string, pods: string[]) => {
      const n = answers(name).length;
      const want = Object.fromEntries(pods.map((p) => [p, n / pods.length]));
      assert.deepEqual(tally(answers(name)), want, context(name));
    };
    const always = (name: string, pod: string, n: number) =>
      assert.deepEqual(answers(name), Array(n).fill(pod), context(name));

    await t.step("the first run programs the node and exits 0", () => {
      const run = kipvsRun(all, "first");
      assert.equal(run.rc, 0, run.text);
      const s = syncedLine(run);
      assert.equal(s.ipvsFailed, 0, run.text);
      assert.ok(s.writes > 0, run.text);
    });

    await t.step("a second run with the same manifests makes zero writes", () => {
      const run = kipvsRun(all, "rerun");
      assert.equal(run.rc, 0, run.text);
      const s = syncedLine(run);
      for (const k of ["writes", "ipvsOps", "addressesAdded", "addressesRemoved"] as const) {
        assert.equal(s[k], 0, `${k} in:\n${run.text}`);
      }
      assert.equal(s.ipsetRestores, 0, run.text);
      assert.equal(s.iptablesRestores, 0, run.text);
      assert.equal(s.full, true, "a --once run is a full sync that reads the kernel back");
    });

    await t.step(
      "ClusterIP over TCP is balanced across both endpoints, from the node and a pod",
      () => {
        balanced("web-tcp-node", ["pod-a", "pod-b"]);
        balanced("web-tcp-pod", ["pod-a", "pod-b"]);
      },
    );

    await t.step(
      "ClusterIP over UDP is balanced across both endpoints, from the node and a pod",
      () => {
        balanced("web-udp-node", ["pod-a", "pod-b"]);
        balanced("web-udp-pod", ["pod-a", "pod-b"]);
      },
    );

    await t.step("an IPv6 ClusterIP of a dual-stack service serves TCP and UDP", () => {
      balanced("web6-tcp-node", ["pod-a", "pod-b"]);
      balanced("web6-tcp-pod", ["pod-a", "pod-b"]);
      balanced("web6-udp-pod", ["pod-a", "pod-b"]);
    });

    await t.step(
      "ClientIP affinity sends every connection of a client to the same endpoint",
      () => {
        for (const name of ["sticky-node", "sticky-pod"]) {
          const first = answers(name)[0] ?? "";
          assert.match(first, /^pod-[ab]$/, context(name));
          always(name, first, 6);
        }
      },
    );

    await t.step("a pod reaches itself through its service (hairpin)", () => {
      always("hairpin", "pod-a", 2);
    });

    await t.step("a NodePort is reached from an outside client on the node's address", () => {
      balanced("nodeport-ext", ["pod-a", "pod-b"]);
    });

    await t.step("an external IP is reached from an outside client", () => {
      balanced("external-ext", ["pod-a", "pod-b"]);
    });

    await t.step("a LoadBalancer IP serves an allowed source and drops the others", () => {
      balanced("lb-allowed", ["pod-a", "pod-b"]);
      assert.deepEqual(answers("lb-other"), ["ERR timeout"], context("lb-other"));
      // The node's own address is outside loadBalancerSourceRanges (KUBE-IPVS-OUT-FILTER).
      assert.deepEqual(answers("lb-node"), ["ERR timeout"], context("lb-node"));
    });

    await t.step(
      "externalTrafficPolicy Local: node port and external IP reach only local endpoints",
      () => {
        always("local-nodeport", "pod-a", 6);
        always("local-external", "pod-a", 6);
        // pod-c answers through the cluster IP, so it was reachable: Local is what kept it out.
        balanced("local-cluster", ["pod-a", "pod-c"]);
      },
    );

    await t.step("kube-ipvs0 addresses refuse ports that are not services", () => {
      assert.deepEqual(answers("vip-other-port"), ["ERR refused"], context("vip-other-port"));
      assert.deepEqual(answers("node-other-port"), ["node"], "the node's own address still serves");
    });

    await t.step("a service without endpoints refuses connections at once", () => {
      const empty = fields(section(all, "empty"));
      for (const name of ["cluster-node", "cluster-pod", "nodeport-ext"]) {
        const [verdict, ms] = empty.get(name) ??
          assert.fail(`no ${name}: ${section(all, "empty")}`);
        assert.equal(verdict, "refused", `${name}: ${verdict} after ${ms} ms`);
        // Refused by the kernel (ICMP port unreachable from IPVS): far below any client timeout.
        assert.ok(Number(ms) < 1000, `${name} took ${ms} ms`);
      }
      assert.equal(empty.get("served-pod")?.[0], "open", section(all, "empty"));
    });

    if (cell.rules === "nftables") {
      await t.step(
        "nftables mode: no KUBE-* ipset or iptables chain, kipvs's tables hold it",
        () => {
          assert.doesNotMatch(section(all, "programmed ipset"), /KUBE-/);
          for (const s of ["programmed iptables", "programmed ip6tables"]) {
            assert.doesNotMatch(section(all, s), /KUBE-/, s);
          }
          const nft = section(all, "programmed nft");
          assert.match(nft, /^table ip kipvs \{/m);
          assert.match(nft, /^table ip6 kipvs \{/m);
        },
      );
    }

    figures(cell, r.ms, all);
  },
  { cells: [...CELLS, NFTABLES_CELL] },
);

/** One line of figures for the test log (they are reported, not asserted). */
function figures(cell: Cell, bootMs: number, all: Map<string, string>): void {
  const first = kipvsRun(all, "first"), rerun = kipvsRun(all, "rerun");
  const empty = fields(section(all, "empty"));
  const ms = (name: string) => empty.get(name)?.[1] ?? "?";
  console.log(
    `e2e traffic ${cell.label}: boot ${bootMs} ms; first sync ${syncedLine(first).ms} ms ` +
      `(process ${first.ms} ms, ${syncedLine(first).writes} writes); rerun sync ` +
      `${syncedLine(rerun).ms} ms (process ${rerun.ms} ms); no-endpoint connects refused in ` +
      `${ms("cluster-node")}/${ms("cluster-pod")}/${ms("nodeport-ext")} ms ` +
      `(node/pod/outside; a served connect ${ms("served-pod")} ms)`,
  );
}
