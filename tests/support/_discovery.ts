/**
 * Discovery documents of the test API server (`/api`, `/apis`, `/api/v1`, ...), enough for
 * `kubectl get` to find Services, EndpointSlices and Nodes, and for `kubectl apply
 * --dry-run=client` to map the kinds of deploy/ (which the server lists in discovery but does not
 * store: reading one answers 404, as for an object not created yet).
 *
 * @module
 */

import { apiVersion, type ResourceInfo, RESOURCES } from "./_store.ts";

const VERBS = ["create", "delete", "get", "list", "update", "watch"];
const SHORT_NAMES: Record<string, string[]> = { services: ["svc"], nodes: ["no"] };

/** Kinds of deploy/ that kubectl must be able to map; not served beyond discovery. */
const DISCOVERY_ONLY: readonly ResourceInfo[] = [
  { plural: "configmaps", kind: "ConfigMap", group: "", version: "v1", namespaced: true },
  { plural: "serviceaccounts", kind: "ServiceAccount", group: "", version: "v1", namespaced: true },
  { plural: "daemonsets", kind: "DaemonSet", group: "apps", version: "v1", namespaced: true },
  ...["ClusterRole", "ClusterRoleBinding"].map((kind) => ({
    plural: `${kind.toLowerCase()}s`,
    kind,
    group: "rbac.authorization.k8s.io",
    version: "v1",
    namespaced: false,
  })),
];
const ALL = [...RESOURCES, ...DISCOVERY_ONLY];
const GROUPS = [...new Set(ALL.filter((r) => r.group).map((r) => `${r.group}/${r.version}`))];

/** The discovery document at `path`, or undefined when `path` is not a discovery path. */
export function discovery(path: string, host: string): unknown {
  if (path === "/version") {
    return {
      major: "1",
      minor: "32",
      gitVersion: "v1.32.0-kipvs-test",
      platform: "linux/amd64",
    };
  }
  if (path === "/api") {
    return {
      kind: "APIVersions",
      versions: ["v1"],
      serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: host }],
    };
  }
  if (path === "/apis") {
    return {
      kind: "APIGroupList",
      apiVersion: "v1",
      groups: GROUPS.map((gv) => {
        const [name, version] = gv.split("/");
        const v = { groupVersion: gv, version };
        return { name, versions: [v], preferredVersion: v };
      }),
    };
  }
  const gv = path === "/api/v1" ? "v1" : path.startsWith("/apis/") ? path.slice(6) : undefined;
  if (gv === undefined) return undefined;
  const resources = ALL.filter((r) => apiVersion(r) === gv);
  if (resources.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: gv,
    resources: resources.map((r) => ({
      name: r.plural,
      singularName: r.kind.toLowerCase(),
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: VERBS,
      ...(SHORT_NAMES[r.plural] ? { shortNames: SHORT_NAMES[r.plural] } : {}),
    })),
  };
}
