/**
 * The API objects of the cluster test in the guest, as JSON the test API server stores: the node
 * kipvs-node, ClusterIP Services and EndpointSlices of the pods, and the collections' paths.
 *
 * @module
 */

/** The pods made before the test (tests/kernel/cluster_test.ts), by name. */
export const POD: Record<string, string> = {
  "pod-a": "10.244.1.2",
  "pod-b": "10.244.1.3",
  "pod-c": "10.244.1.4",
};

/** The Node kipvs-node (the guest), in zone-a, with `taints`. */
export const node = (taints: { key: string; effect: string }[] = []) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: "kipvs-node", labels: { "topology.kubernetes.io/zone": "zone-a" } },
  spec: { podCIDRs: ["10.244.1.0/24"], taints },
  status: { addresses: [{ type: "InternalIP", address: "192.168.100.1" }] },
});
/** A ClusterIP Service with one TCP port 80 ("http") to `targetPort`. */
export const service = (name: string, ip: string, targetPort: number) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "default" },
  spec: {
    type: "ClusterIP",
    clusterIP: ip,
    clusterIPs: [ip],
    ipFamilies: ["IPv4"],
    ports: [{ name: "http", protocol: "TCP", port: 80, targetPort }],
  },
});
/** An IPv4 EndpointSlice of `svc`: ready endpoints of `pods` on kipvs-node, port "http". */
export const slice = (name: string, svc: string, port: number, pods: string[]) => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name, namespace: "default", labels: { "kubernetes.io/service-name": svc } },
  addressType: "IPv4",
  endpoints: pods.map((p) => ({
    addresses: [POD[p]],
    conditions: { ready: true },
    nodeName: "kipvs-node",
  })),
  ports: [{ name: "http", protocol: "TCP", port }],
});
/** Services of the default namespace. */
export const SERVICES = "/api/v1/namespaces/default/services";
/** EndpointSlices of the default namespace. */
export const SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
