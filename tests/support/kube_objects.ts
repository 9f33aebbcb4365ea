/**
 * Raw API objects for tests (JSON as the API server holds them) and a stand-in for the
 * validator of src/k8s/validate.ts.
 *
 * @module
 */

import type { KubeObject } from "../../src/k8s/types.ts";
import type { DecodeResult } from "../../src/source/kube/decode.ts";
import type { Obj } from "./_store.ts";

/** A ClusterIP Service with one TCP port. */
export function rawService(
  namespace: string,
  name: string,
  o: { clusterIP?: string; port?: number; labels?: Record<string, string> } = {},
): Obj {
  return {
    metadata: { namespace, name, labels: o.labels ?? {} },
    spec: {
      type: "ClusterIP",
      clusterIP: o.clusterIP ?? "10.96.0.10",
      clusterIPs: [o.clusterIP ?? "10.96.0.10"],
      ports: [{ name: "http", protocol: "TCP", port: o.port ?? 80, targetPort: 8080 }],
    },
  };
}

/** An IPv4 EndpointSlice of `service` with ready endpoints at `addresses`. */
export function rawSlice(
  namespace: string,
  name: string,
  o: { service: string; addresses?: string[]; labels?: Record<string, string> },
): Obj {
  return {
    metadata: {
      namespace,
      name,
      labels: { "kubernetes.io/service-name": o.service, ...o.labels },
    },
    addressType: "IPv4",
    endpoints: (o.addresses ?? ["10.244.0.5"]).map((a) => ({
      addresses: [a],
      conditions: { ready: true },
    })),
    ports: [{ name: "http", protocol: "TCP", port: 8080 }],
  };
}

/** A Node with an InternalIP, an optional zone label and taints. */
export function rawNode(
  name: string,
  o: { address?: string; zone?: string; taints?: { key: string; effect: string }[] } = {},
): Obj {
  return {
    metadata: {
      name,
      labels: o.zone ? { "topology.kubernetes.io/zone": o.zone } : {},
    },
    spec: { taints: o.taints ?? [], podCIDRs: ["10.244.0.0/24"] },
    status: { addresses: [{ type: "InternalIP", address: o.address ?? "192.168.100.1" }] },
  };
}

/**
 * A minimal validator: fills the fields the types require, ignores FQDN slices, and rejects
 * objects labelled `test/invalid` (so tests can check that invalid objects are skipped).
 */
export function testDecoder(raw: unknown): DecodeResult {
  const o = structuredClone(raw) as Record<string, unknown>;
  const meta = (o.metadata ?? {}) as {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    deletionTimestamp?: string;
  };
  if (meta.labels?.["test/invalid"] !== undefined) {
    return { issues: [{ path: "metadata.labels", message: "labelled test/invalid" }] };
  }
  if (o.addressType === "FQDN") return { issues: ["FQDN slices are not proxied"], ignored: true };
  o.metadata = {
    name: meta.name,
    namespace: meta.namespace ?? "",
    labels: meta.labels ?? {},
    annotations: meta.annotations ?? {},
    resourceVersion: meta.resourceVersion,
    deletionTimestamp: meta.deletionTimestamp,
  };
  if (o.kind === "Node") o.spec = { taints: [], podCIDRs: [], ...o.spec as object };
  return { object: o as unknown as KubeObject, issues: [] };
}
