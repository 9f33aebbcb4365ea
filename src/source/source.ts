/**
 * Where kipvs learns the cluster's state: the Kubernetes API (list + watch) or manifest files.
 * Both implement {@link ClusterSource}; the proxy never knows which one it has.
 *
 * @module
 */

import type { EndpointSlice, Node, Service } from "../k8s/types.ts";

/** A consistent view of what the proxy needs. Maps are keyed by "namespace/name". */
export interface ClusterState {
  services: ReadonlyMap<string, Service>;
  endpointSlices: ReadonlyMap<string, EndpointSlice>;
  /**
   * The same EndpointSlices grouped by the "namespace/name" of their Service (label
   * kubernetes.io/service-name), slice key → slice, when the source keeps that index: a change
   * to one service then finds its slices without scanning them all.
   */
  endpointSlicesByService?: ReadonlyMap<string, ReadonlyMap<string, EndpointSlice>>;
  /** This node's Node object, when the source has it. */
  node?: Node;
}

/** What changed since the previous notification: keys of the services touched. */
export interface SourceChange {
  /**
   * "namespace/name" of every Service whose own object or whose EndpointSlices changed (added,
   * modified or deleted). Empty with `all` set when the whole view was replaced (relist, file
   * reload).
   */
  services: ReadonlySet<string>;
  /** The Node changed (addresses, zone, taints, deletion). */
  node: boolean;
  /** Everything may have changed: compare all services. */
  all: boolean;
  /** How many Service objects and EndpointSlice objects changed (for metrics). */
  serviceChanges: number;
  endpointChanges: number;
  /** When the source saw the change (ms since epoch), for network programming latency. */
  seenAt: number;
}

/** How fresh the source's view is, for healthz. */
export interface SourceHealth {
  /** True once the initial state was fully read (never program a half-listed cluster). */
  synced: boolean;
  /** ms since epoch of the last successful contact (list, watch event, bookmark, file read). */
  lastContact: number;
  /** The last error, when the source is currently failing. */
  error?: string;
}

/** A source of cluster state. */
export interface ClusterSource {
  /** Starts reading; resolves once the initial state is complete. */
  start(): Promise<void>;
  /** The current view. Cheap: returns the source's maps, not copies. */
  snapshot(): ClusterState;
  /** Registers a listener called after each change is applied to the view. */
  onChange(listener: (change: SourceChange) => void): void;
  /** Health of the view. */
  health(): SourceHealth;
  /** Stops reading; the view stays as it was. */
  stop(): Promise<void>;
}
