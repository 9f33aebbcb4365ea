/**
 * The subset of Kubernetes objects kipvs reads (core/v1 Service and Node,
 * discovery.k8s.io/v1 EndpointSlice), with the API's field names. Objects of these types have
 * passed validation (`validate.ts`): required fields are present, addresses and ports are valid,
 * and API defaults are filled in (protocol TCP, endpoint conditions, ...). The Kubernetes API and
 * manifest sources both produce them.
 *
 * @module
 */

/** Transport protocols of service ports. */
export type Protocol = "TCP" | "UDP" | "SCTP";
/** IP families as the API spells them. */
export type IPFamily = "IPv4" | "IPv6";

/** Object metadata kipvs uses. */
export interface ObjectMeta {
  name: string;
  /** Empty for cluster-scoped objects (Node). */
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  /** Set when the object is being deleted. */
  deletionTimestamp?: string;
  /** When the object was created (RFC 3339); decides between Services that conflict. */
  creationTimestamp?: string;
}

/** One port of a Service. */
export interface ServicePort {
  /** Empty when the service has a single unnamed port. */
  name: string;
  protocol: Protocol;
  port: number;
  /** A number, or the name of a container port; undefined means the same as `port`. */
  targetPort?: number | string;
  /** 0 when none is allocated. */
  nodePort: number;
}

/** Service types. */
export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";

/** The spec fields of a Service that decide how it is proxied. */
export interface ServiceSpec {
  type: ServiceType;
  /** "None" for headless services; "" when unset. */
  clusterIP: string;
  /** All cluster IPs (dual-stack), primary first; [] when unset. */
  clusterIPs: string[];
  ipFamilies: IPFamily[];
  ports: ServicePort[];
  externalIPs: string[];
  sessionAffinity: "None" | "ClientIP";
  /** ClientIP affinity timeout; the API default is 10800 (3 hours). */
  sessionAffinityTimeoutSeconds: number;
  externalTrafficPolicy: "Cluster" | "Local";
  internalTrafficPolicy: "Cluster" | "Local";
  /** 0 when none. */
  healthCheckNodePort: number;
  loadBalancerSourceRanges: string[];
  externalName?: string;
}

/** One load balancer ingress point. */
export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  /** "Proxy" means the load balancer delivers to the node, not to the IP: no IPVS entry. */
  ipMode?: "VIP" | "Proxy";
}

/** A Service (core/v1). */
export interface Service {
  kind: "Service";
  metadata: ObjectMeta;
  spec: ServiceSpec;
  status: { loadBalancer: { ingress: LoadBalancerIngress[] } };
}

/** Conditions of an endpoint, with the API's nil rules applied (ready/serving nil = true). */
export interface EndpointConditions {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/** One endpoint (one pod) of an EndpointSlice. */
export interface Endpoint {
  /** At least one address, of the slice's address type. */
  addresses: string[];
  conditions: EndpointConditions;
  nodeName?: string;
  zone?: string;
  /** Topology hints: zones (and nodes) this endpoint should serve. */
  hints?: { forZones: string[]; forNodes: string[] };
}

/** One port of an EndpointSlice. */
export interface EndpointPort {
  /** Matches the service port's name; "" for the unnamed port. */
  name: string;
  protocol: Protocol;
  port: number;
}

/** An EndpointSlice (discovery.k8s.io/v1). */
export interface EndpointSlice {
  kind: "EndpointSlice";
  metadata: ObjectMeta;
  /** FQDN slices are dropped at validation: kipvs never proxies to names. */
  addressType: "IPv4" | "IPv6";
  endpoints: Endpoint[];
  ports: EndpointPort[];
}

/** The service a slice belongs to (label `kubernetes.io/service-name`). */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** One taint of a Node. */
export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

/** A Node (core/v1): its addresses, zone label and taints. */
export interface Node {
  kind: "Node";
  metadata: ObjectMeta;
  spec: { taints: Taint[]; podCIDRs: string[] };
  status: { addresses: { type: string; address: string }[] };
}

/** The label that carries a node's zone. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";
/** Label that hands a service to another proxy; kipvs skips labelled services. */
export const SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name";
/** Label that marks a service headless for proxies; kipvs skips labelled services. */
export const HEADLESS_LABEL = "service.kubernetes.io/headless";

/** Any object kipvs reads. */
export type KubeObject = Service | EndpointSlice | Node;

/** "namespace/name" of an object. */
export function objectKey(meta: { namespace: string; name: string }): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
}
