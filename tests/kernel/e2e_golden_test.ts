// The "Done when" check of issue 4, one guest boot per cell of the matrix (tests/kernel/guest/
// e2e_golden.sh): for a fixed scenario with one service of each kind in both families
// (tests/kernel/testdata/e2e/golden/manifests), what kipvs programs — `ipvsadm -Sn`, `ipset save`,
// the cell's `iptables-*-save` and `ip6tables-*-save` and kube-ipvs0's addresses — equals, line
// for line, what kube-proxy's IPVS mode would hold for the same objects. iptables-nft-save prints
// kube-proxy's rules as iptables-legacy-save does, so both cells compare with the same files.
// The golden files were derived by hand from kube-proxy's source; testdata/e2e/golden/README.md
// records how, and every deliberate difference.
// The same objects are then programmed with other flags (scheduler mh, masquerade bit 13, no
// cluster CIDR) on a node of their own, a network namespace, and compared with variant-*.txt.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { assertGuestOk, runInGuest } from "./harness.ts";
import { type Cell, cellEnv, CELLS, iptablesProgram, matrixTest, NFTABLES_CELL } from "./matrix.ts";
import {
  assertLines,
  goldenLines,
  kipvsRun,
  normalizeAddresses,
  normalizeIpset,
  normalizeIptables,
  normalizeIpvs,
  normalizeNft,
  section,
  sections,
  syncedLine,
} from "./e2e_output.ts";

const GOLDEN = fileURLToPath(new URL("./testdata/e2e/golden/", import.meta.url));

/**
 * Each dump: the guest's section, its normaliser, and the golden file it must equal. In the
 * nftables cell the sets and chains are nft.txt (derived from ipset.txt and iptables.txt, see
 * the README), and ipset and iptables must hold nothing of kube-proxy's.
 */
const dumps = (cell: Cell) =>
  cell.rules === "nftables"
    ? [
      ...baseDumps(cell).filter((d) => d.dump === "ipvs" || d.dump === "addresses"),
      { dump: "nft", file: "nft.txt", normalize: normalizeNft, what: "nft list ruleset" },
      ...["ipset", "iptables", "ip6tables"].map((dump) => ({
        dump,
        file: "",
        normalize: (t: string) => lines(t).filter((l) => l.includes("KUBE-")),
        what: `${dump} (nothing of kube-proxy's)`,
      })),
    ]
    : baseDumps(cell);

const baseDumps = (cell: Cell) => [
  { dump: "ipvs", file: "ipvsadm.txt", normalize: normalizeIpvs, what: "ipvsadm -Sn" },
  { dump: "ipset", file: "ipset.txt", normalize: normalizeIpset, what: "ipset save" },
  {
    dump: "iptables",
    file: "iptables.txt",
    normalize: normalizeIptables,
    what: iptablesProgram(cell, 4, "save"),
  },
  {
    dump: "ip6tables",
    file: "ip6tables.txt",
    normalize: normalizeIptables,
    what: iptablesProgram(cell, 6, "save"),
  },
  {
    dump: "addresses",
    file: "addresses.txt",
    normalize: normalizeAddresses,
    what: "kube-ipvs0 addresses",
  },
];

matrixTest(
  "a programmed node holds what kube-proxy's IPVS mode would for the same objects",
  async (t, cell) => {
    const r = await runInGuest({
      name: "e2e-golden",
      kernel: cell.kernel,
      env: cellEnv(cell),
      script: '. "$GUEST_DIR/e2e_golden.sh"',
      timeoutMs: 120_000,
    });
    const DUMPS = dumps(cell);
    assertGuestOk(r, "e2e golden script");
    const all = sections(r.stdout);

    await t.step("the run succeeds without a warning", () => {
      const run = kipvsRun(all, "golden");
      assert.equal(run.rc, 0, run.text);
      assert.equal(syncedLine(run).ipvsFailed, 0, run.text);
      const warned = run.logs.filter((l) => l.level === "warn" || l.level === "error");
      assert.deepEqual(warned, [], run.text);
    });

    for (const d of DUMPS) {
      await t.step(`${d.what} matches the golden file ${d.file || "(empty)"}`, async () => {
        const got = d.normalize(section(all, `golden ${d.dump}`));
        assertLines(got, d.file ? await goldenLines(GOLDEN + d.file) : [], d.what);
      });
    }

    // The same objects with --ipvs-scheduler mh --masquerade-bit 13 and no --cluster-cidr, on a
    // node of its own (a network namespace): the flags change virtual servers and rules, not sets.
    await t.step("with other flags the run succeeds", () => {
      const run = kipvsRun(all, "variant");
      assert.equal(run.rc, 0, run.text);
      assert.equal(syncedLine(run).ipvsFailed, 0, run.text);
    });
    for (const d of DUMPS) {
      const file = ["ipset", "addresses"].includes(d.dump) || !d.file
        ? d.file
        : `variant-${d.file}`;
      await t.step(`with other flags ${d.what} matches ${file || "(empty)"}`, async () => {
        const got = d.normalize(section(all, `variant ${d.dump}`));
        assertLines(got, file ? await goldenLines(GOLDEN + file) : [], `${d.what} (other flags)`);
      });
    }

    await t.step("a rerun on the golden node makes zero writes", () => {
      const run = kipvsRun(all, "rerun");
      assert.equal(run.rc, 0, run.text);
      assert.equal(syncedLine(run).writes, 0, run.text);
    });

    const first = syncedLine(kipvsRun(all, "golden")), rerun = syncedLine(kipvsRun(all, "rerun"));
    console.log(
      `e2e golden ${cell.label}: boot ${r.ms} ms; sync ${first.ms} ms (${first.writes} writes, ` +
        `${first.netlinkMessages} netlink messages); rerun ${rerun.ms} ms`,
    );
  },
  { cells: [...CELLS, NFTABLES_CELL] },
);

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
}
