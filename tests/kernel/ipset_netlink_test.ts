// kipvs's ipset writes over netlink against the real kernel (one guest boot): every kube-proxy
// set type in both families compared with `ipset restore -exist`, -exist semantics, errors
// named by line in ipset's words, the fallback to the program, and (6.1) the time of 25,000 adds.
import assert from "node:assert/strict";
import { assertGuestOk, outputSections, runGuestTests } from "./harness.ts";
import { cellEnv, matrixTest } from "./matrix.ts";

matrixTest(
  "ipset over netlink writes what ipset restore -exist writes, and fails as it does",
  async (_t, cell) => {
    const r = await runGuestTests(["tests/kernel/guest/ipset_netlink.guest.ts"], {
      name: "ipset-netlink",
      kernel: cell.kernel,
      env: cellEnv(cell),
      timeoutMs: 240_000,
      before: "ip netns add prog\n",
    });
    assertGuestOk(r, "ipset netlink guest tests");
    const s = outputSections(r.stdout);
    // The 25,000 adds are timed in the 6.1 cell only (a figure, not a check).
    if (cell.kernel === "6.1") {
      assert.match(r.stdout, /ok \| 9 passed \| 0 failed/);
      const timing = s.get("25,000 adds") ?? assert.fail(r.stdout);
      console.log(`25,000 adds in the guest ${cell.label}: ${timing}`);
    } else {
      assert.match(r.stdout, /ok \| 8 passed \| 0 failed \| 1 ignored/);
    }
    console.log(s.get("error at line 2500"));
  },
);
