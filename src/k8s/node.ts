/**
 * What a proxy reads from its own Node: the zone for topology hints, and whether the node is
 * on its way out (healthz answers 503 then, so load balancers drain it first).
 *
 * @module
 */

import { type Node, ZONE_LABEL } from "./types.ts";

/** The taint the cluster autoscaler puts on a node it is about to delete. */
export const TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler";

/** The node's zone label, if any. */
export function nodeZone(node: Node | undefined): string | undefined {
  return node?.metadata.labels[ZONE_LABEL] || undefined;
}

/**
 * Why the node should not receive new load-balanced traffic (healthz 503), or undefined: it is
 * being deleted, or the cluster autoscaler tainted it for deletion. An unknown node is not a
 * reason: the proxy still serves.
 */
export function nodeLeavingReason(node: Node | undefined): string | undefined {
  if (!node) return undefined;
  if (node.metadata.deletionTimestamp) {
    return `node ${node.metadata.name} is being deleted (since ${node.metadata.deletionTimestamp})`;
  }
  if (node.spec.taints.some((t) => t.key === TO_BE_DELETED_TAINT)) {
    return `node ${node.metadata.name} is tainted ${TO_BE_DELETED_TAINT}`;
  }
  return undefined;
}
