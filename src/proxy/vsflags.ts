/**
 * The IPVS service flags kube-proxy sets on a virtual server, derived from the plan's spec so
 * that the spec stays plain data (uapi linux/ip_vs.h; pkg/proxy/ipvs/util FlagPersistent,
 * FlagSourceHash).
 *
 * @module
 */

import type { VirtualServerSpec } from "./desired.ts";

const PERSISTENT = 0x1; // IP_VS_SVC_F_PERSISTENT: ClientIP session affinity
const SOURCE_PORT_HASH = 0x10; // IP_VS_SVC_F_SCHED_MH_PORT (= SH_PORT): hash the source port too

/**
 * The flags of a virtual server as kube-proxy sets them: persistent with ClientIP affinity, and
 * the source-port hash flag with the "mh" scheduler. (The kernel adds HASHED, 0x2, by itself:
 * strip it before comparing.)
 */
export function virtualServerFlags(
  vs: Pick<VirtualServerSpec, "persistenceTimeout" | "scheduler">,
): number {
  return (vs.persistenceTimeout > 0 ? PERSISTENT : 0) |
    (vs.scheduler === "mh" ? SOURCE_PORT_HASH : 0);
}
