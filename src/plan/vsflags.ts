/**
 * The IPVS service flags kube-proxy sets on a virtual server, derived from the plan's spec so
 * that the spec stays plain data (pkg/proxy/ipvs/util FlagPersistent, FlagSourceHash).
 *
 * @module
 */

import { SVC_F } from "../dataplane/ipvs/constants.ts";
import type { VirtualServerSpec } from "./desired.ts";

/**
 * The flags of a virtual server as kube-proxy sets them: persistent with ClientIP affinity, and
 * the source-port hash flag (mh-port) with the "mh" scheduler. The kernel's own HASHED flag is
 * stripped when services are read, so these compare with what the kernel reports.
 */
export function virtualServerFlags(
  vs: Pick<VirtualServerSpec, "persistenceTimeout" | "scheduler">,
): number {
  return (vs.persistenceTimeout > 0 ? SVC_F.PERSISTENT : 0) |
    (vs.scheduler === "mh" ? SVC_F.SCHED2 : 0);
}
