/**
 * The desired state the diagnostic commands compare with: the same plan `kipvs run` makes from
 * the same source, configuration and interfaces.
 *
 * @module
 */

import type { ProxyConfig } from "../config/config.ts";
import type { DesiredState } from "../plan/desired.ts";
import { nodeInfo } from "../plan/nodeinfo.ts";
import type { InterfaceAddress } from "../plan/nodeports.ts";
import { plan } from "../plan/plan.ts";
import type { ClusterState } from "../source/source.ts";

/** Options of {@link planNode}. */
export interface PlanNodeOptions {
  state: ClusterState;
  config: ProxyConfig;
  /** `Deno.networkInterfaces()`: node-port addresses and local addresses, as `run` reads them. */
  interfaces: readonly InterfaceAddress[];
}

/** Plans the node as a full sync of `kipvs run` would. */
export function planNode(o: PlanNodeOptions): DesiredState {
  const node = nodeInfo({ config: o.config, node: o.state.node, interfaces: o.interfaces });
  return plan(o.state, { config: o.config, node });
}
