/**
 * Records the kernel's netlink replies to the shared IPVS and dummy-link scenarios as unit-test
 * data (tests/dataplane/{ipvs,link}/testdata/). Run on the host, as root:
 *
 *   node_modules/@deno/linux-x64-glibc/deno run -A tests/kernel/guest/ipvs_capture.ts
 *
 * It boots the test guest, runs itself inside with `--guest`, and writes the recordings.
 *
 * @module
 */

import { KernelIpvs } from "../../../src/dataplane/ipvs/kernel.ts";
import { KernelDummyLink } from "../../../src/dataplane/link/kernel.ts";
import { NETLINK_GENERIC, NETLINK_ROUTE } from "../../../src/dataplane/netlink/constants.ts";
import { NetlinkSocket } from "../../../src/dataplane/netlink/socket.ts";
import { CaptureTransport } from "../../dataplane/netlink/_transport.ts";
import { ipvsScenario } from "../../dataplane/ipvs/_scenario.ts";
import { linkScenario } from "../../dataplane/link/_scenario.ts";
import { assertGuestOk, KIPVS_ROOT, runInGuest } from "../harness.ts";

const IPVS_OUT = `${KIPVS_ROOT}/tests/dataplane/ipvs/testdata/kernel-replies.json`;
const LINK_OUT = `${KIPVS_ROOT}/tests/dataplane/link/testdata/kernel-replies.json`;

if (import.meta.main && Deno.args[0] === "--guest") {
  const gen = new CaptureTransport(NetlinkSocket.open({ protocol: NETLINK_GENERIC }));
  const ipvs = KernelIpvs.open({ transport: gen, firstSeq: 1000 });
  await ipvsScenario(ipvs);
  ipvs.close();
  const rt = new CaptureTransport(NetlinkSocket.open({ protocol: NETLINK_ROUTE }));
  const link = KernelDummyLink.open({ transport: rt, firstSeq: 2000 });
  await linkScenario(link);
  link.close();
  await Deno.writeTextFile(IPVS_OUT, JSON.stringify(gen.recording, null, 1) + "\n");
  await Deno.writeTextFile(LINK_OUT, JSON.stringify(rt.recording, null, 1) + "\n");
} else if (import.meta.main) {
  const r = await runInGuest({
    name: "ipvs-capture",
    script: `"$DENO" run -A --node-modules-dir=manual --cached-only --no-check \\
      "$KIPVS_ROOT/tests/kernel/guest/ipvs_capture.ts" --guest`,
  });
  assertGuestOk(r, "capture");
  console.log(`wrote ${IPVS_OUT}\nwrote ${LINK_OUT}`);
}
