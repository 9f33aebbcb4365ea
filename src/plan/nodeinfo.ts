/**
 * Builds the {@link NodeInfo} the plan needs from the configuration, this node's Node object
 * and the interfaces' addresses. Pure: the caller reads `Deno.networkInterfaces()`.
 *
 * @module
 */

import type { Node } from "../k8s/types.ts";
import { nodeZone } from "../k8s/node.ts";
import type { NodeInfo, ProxyConfig } from "../config/config.ts";
import { type InterfaceAddress, localAddresses, nodeIPs, nodePortAddresses } from "./nodeports.ts";

/** Options of {@link nodeInfo}. */
export interface NodeInfoOptions {
  config: Pick<ProxyConfig, "hostname" | "nodePortAddresses">;
  /** This node's Node object, when the source has it. */
  node?: Node;
  /** `Deno.networkInterfaces()`, or a list like it. */
  interfaces: readonly InterfaceAddress[];
  /** `--bind-address`, when set. */
  bindAddress?: string;
}

/**
 * What the plan needs to know about this node: its name, zone, primary IPs, local addresses and
 * node-port addresses.
 *
 * @throws KipvsError "invalid-config" for a bad `--nodeport-addresses` value.
 */
export function nodeInfo(options: NodeInfoOptions): NodeInfo {
  const ips = nodeIPs({ node: options.node, bindAddress: options.bindAddress });
  const local = localAddresses(options.interfaces);
  const zone = nodeZone(options.node);
  return {
    name: options.config.hostname,
    ...(zone ? { zone } : {}),
    nodePortAddresses: nodePortAddresses({
      interfaces: options.interfaces,
      nodePortAddresses: options.config.nodePortAddresses,
      nodeIPs: ips,
    }),
    ips: { 4: ips[4], 6: ips[6] },
    localAddresses: [...local[4], ...local[6]],
  };
}
