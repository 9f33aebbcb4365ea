/**
 * The API resources kipvs reads, where they live in the API, and the selectors kube-proxy reads
 * them with.
 *
 * @module
 */

import { HEADLESS_LABEL, SERVICE_PROXY_NAME_LABEL } from "../../k8s/types.ts";

/** One API resource type (a collection that can be listed and watched). */
export interface ResourceType {
  /** API group; "" for the core group. */
  group: string;
  /** API version ("v1"). */
  version: string;
  /** Plural name as it appears in paths ("services"). */
  plural: string;
  /** Kind of one object ("Service"); lists are `${kind}List`. */
  kind: string;
  /** Whether objects live in namespaces. */
  namespaced: boolean;
}

/** core/v1 Services. */
export const SERVICES: ResourceType = {
  group: "",
  version: "v1",
  plural: "services",
  kind: "Service",
  namespaced: true,
};

/** discovery.k8s.io/v1 EndpointSlices. */
export const ENDPOINT_SLICES: ResourceType = {
  group: "discovery.k8s.io",
  version: "v1",
  plural: "endpointslices",
  kind: "EndpointSlice",
  namespaced: true,
};

/** core/v1 Nodes. */
export const NODES: ResourceType = {
  group: "",
  version: "v1",
  plural: "nodes",
  kind: "Node",
  namespaced: false,
};

/** `apiVersion` of a resource's objects ("v1", "discovery.k8s.io/v1"). */
export function apiVersionOf(resource: ResourceType): string {
  return resource.group ? `${resource.group}/${resource.version}` : resource.version;
}

/**
 * Path of a resource's collection across all namespaces, like `/api/v1/services` or
 * `/apis/discovery.k8s.io/v1/endpointslices`.
 */
export function collectionPath(resource: ResourceType): string {
  const root = resource.group ? `/apis/${resource.group}` : "/api";
  return `${root}/${resource.version}/${resource.plural}`;
}

/**
 * The label selector of kube-proxy's Service and EndpointSlice informers: objects handed to
 * another proxy and headless services are not this proxy's business.
 */
export const PROXY_LABEL_SELECTOR = `!${SERVICE_PROXY_NAME_LABEL},!${HEADLESS_LABEL}`;

/** The field selector that reads one node by name. */
export function nodeFieldSelector(nodeName: string): string {
  return `metadata.name=${nodeName}`;
}
