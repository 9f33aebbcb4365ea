/**
 * Runs in the guest under exactly the permissions of scripts/permissions (no --allow-all):
 * IPVS, the dummy link and libnl's error texts must all work there. Prints one line per check;
 * tests/kernel/ipvs_test.ts reads them.
 */

import { KernelIpvs } from "../../../src/dataplane/ipvs/kernel.ts";
import { KernelDummyLink } from "../../../src/dataplane/link/kernel.ts";
import { libnlErrorText } from "../../../src/dataplane/netlink/ffi.ts";
import { rs, TCP80, vs } from "../../dataplane/ipvs/_scenario.ts";

const ipvs = KernelIpvs.open();
const results = await ipvs.apply([
  { op: "add-service", service: vs(TCP80) },
  { op: "add-destination", service: TCP80, destination: rs("10.244.1.2", 8080) },
  { op: "add-destination", service: TCP80, destination: rs("10.244.1.2", 8080) },
]);
console.log(`ipvs-apply ${results.map((r) => (r.ok ? "ok" : r.errno)).join(" ")}`);
const [svc] = await ipvs.readAll();
// The read pipelines its real-server dumps through io_uring (libc only): under these permissions too.
const piped = ipvs.dumpCounters.pipelinedRuns > 0 ? "pipelined" : "one by one";
console.log(`ipvs-read ${svc?.scheduler} ${svc?.destinations.length} ${piped}`);
console.log(`ipvs-info ${(await ipvs.info()).version}`);
await ipvs.deleteService(TCP80);
ipvs.close();

const link = KernelDummyLink.open({ name: "kipvs-perm0" });
await link.ensure();
const added = await link.addAddresses(["10.96.7.7", "fd00::7"]);
console.log(`link-add ${added.map((r) => (r.ok ? "ok" : r.errno)).join(" ")}`);
console.log(`link-list ${(await link.listAddresses()).sort().join(" ")}`);
console.log(`link-delete ${await link.delete()}`);
link.close();
console.log(`libnl-text ${libnlErrorText(-12)}`);
