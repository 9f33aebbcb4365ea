/**
 * The cluster of `deno task bench:scale`: N Services x M endpoints as manifest files (one file
 * per service: the Service and its EndpointSlice, as YAML or as kubectl's JSON), the edits the benchmark makes to them, and
 * the direct baseline's inputs (an `ipvsadm -R` rules file, one `ipset restore` payload, one
 * `iptables-restore` payload per family, the kube-ipvs0 addresses) rendered from kipvs's own
 * plan of the same files, so that both sides load the same content.
 *
 * The shape: every 20th service from 1 is a NodePort, from 2 also a NodePort, from 3 a
 * LoadBalancer (with an ingress IP; every other one `externalTrafficPolicy: Local` with a health
 * check node port); the rest ClusterIP. One TCP port each. Endpoints are spread over 50 nodes,
 * node-0 being the node under test, so one endpoint in 50 is local.
 *
 * @module
 */

import { restoreText } from "../src/dataplane/ipset/ops.ts";
import { dump } from "js-yaml";
import { formatRules, type RulesEntry } from "../src/dataplane/ipvs/rules.ts";
import { planIpsetRestore } from "../src/reconcile/ipset_restore.ts";
import { planIptablesRestore } from "../src/reconcile/iptables_diff.ts";
import { planRules } from "../src/plan/rules.ts";
import { renderIptables } from "../src/dataplane/iptables/render.ts";
import type { EndpointSlice, Service } from "../src/k8s/types.ts";
import { Logger } from "../src/log.ts";
import { DEFAULT_CONFIG, type ProxyConfig } from "../src/config/config.ts";
import type { DesiredState } from "../src/plan/desired.ts";
import { toKernelDestination, toKernelService } from "../src/reconcile/ipvs.ts";
import { nodeInfo } from "../src/plan/nodeinfo.ts";
import { plan } from "../src/plan/plan.ts";
import { loadManifest } from "../src/source/_manifest_load.ts";

/** The node under test, as `--hostname-override` names it. */
export const NODE_NAME = "node-0";
/** The node's one interface besides lo in the benchmark's namespaces. */
export const NODE_IF = { name: "eth0", address: "192.168.100.1", prefix: 24 } as const;
/** Nodes the endpoints are spread over. */
const NODES = 50;

/** How many services and endpoints, and how the manifest files are written. */
export interface ScaleShape {
  services: number;
  endpoints: number;
  /** YAML (two documents per file) or JSON (a List, as `kubectl get -o json` prints it). */
  format: "yaml" | "json";
}

/** Service i's type. */
export function serviceType(i: number): "ClusterIP" | "NodePort" | "LoadBalancer" {
  const r = i % 20;
  return r === 1 || r === 2 ? "NodePort" : r === 3 ? "LoadBalancer" : "ClusterIP";
}

const dotted = (a: number, n: number) => `10.${a + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;

/** Service i's cluster IP (10.96.0.0/12, from 10.96.0.1). */
export function clusterIP(i: number): string {
  return dotted(96, i + 1);
}

/** Endpoint j of service i (10.128.0.0/9 upwards, unique across the cluster). */
export function endpointIP(shape: ScaleShape, i: number, j: number): string {
  return dotted(128, i * shape.endpoints + j + 1);
}

/** The node of endpoint j of service i: node-0 is this node. */
function endpointNode(shape: ScaleShape, i: number, j: number): string {
  return `node-${(i * shape.endpoints + j) % NODES}`;
}

/** The first endpoint of service i on another node: the one the edits replace. */
export function remoteEndpoint(shape: ScaleShape, i: number): number {
  for (let j = 0; j < shape.endpoints; j++) if (endpointNode(shape, i, j) !== NODE_NAME) return j;
  throw new Error(`service ${i} has no remote endpoint`);
}

/** "ns-3/svc-103", and the file name of service i. */
export function serviceKey(
  shape: ScaleShape,
  i: number,
): { namespace: string; name: string; file: string } {
  const name = `svc-${i}`;
  return { namespace: `ns-${i % 25}`, name, file: `${name}.${shape.format}` };
}

/** Service i, as the API server holds it. */
export function serviceObject(shape: ScaleShape, i: number): Record<string, unknown> {
  const { namespace, name } = serviceKey(shape, i);
  const type = serviceType(i);
  // Node ports are allocated in order among the services that have one.
  const k = Math.floor(i / 20) * 3 + (i % 20) - 1;
  const port: Record<string, unknown> = { name: "http", protocol: "TCP", port: 80 };
  port.targetPort = 8080;
  if (type !== "ClusterIP") port.nodePort = 30000 + k;
  const local = type === "LoadBalancer" && Math.floor(i / 20) % 2 === 1;
  const spec: Record<string, unknown> = {
    type,
    clusterIP: clusterIP(i),
    clusterIPs: [clusterIP(i)],
    ipFamilies: ["IPv4"],
    ipFamilyPolicy: "SingleStack",
    ports: [port],
    selector: { app: name },
    sessionAffinity: "None",
    internalTrafficPolicy: "Cluster",
  };
  if (type !== "ClusterIP") spec.externalTrafficPolicy = local ? "Local" : "Cluster";
  if (local) spec.healthCheckNodePort = 40000 + Math.floor(i / 20);
  const lb = Math.floor(i / 20) + 1;
  const ingress = type === "LoadBalancer" ? [{ ip: `172.20.${lb >>> 8}.${lb & 255}` }] : [];
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace, labels: { app: name } },
    spec,
    status: { loadBalancer: type === "LoadBalancer" ? { ingress } : {} },
  };
}

/** Endpoint j of service i replaced by `replace.ip` (an edit), or as generated. */
export interface SliceEdit {
  endpoint: number;
  ip: string;
}

/** The EndpointSlice of service i (with `edit` applied), as the API server holds it. */
export function sliceObject(
  shape: ScaleShape,
  i: number,
  edit?: SliceEdit,
): Record<string, unknown> {
  const { namespace, name } = serviceKey(shape, i);
  const endpoints = Array.from({ length: shape.endpoints }, (_, j) => ({
    addresses: [edit?.endpoint === j ? edit.ip : endpointIP(shape, i, j)],
    conditions: { ready: true, serving: true, terminating: false },
    nodeName: endpointNode(shape, i, j),
    targetRef: { kind: "Pod", namespace, name: `${name}-pod-${j}` },
  }));
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${name}-abcde`,
      namespace,
      labels: {
        "kubernetes.io/service-name": name,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
      },
    },
    addressType: "IPv4",
    endpoints,
    ports: [{ name: "http", protocol: "TCP", port: 8080 }],
  };
}

/** One endpoint of one service moved to another address. */
export interface ServiceEdit {
  service: number;
  ip: string;
}

/**
 * Churn round `round` of the API benchmark: `percent` % of the services, spread over the range
 * (every type), one remote endpoint each moved to an address of the round's own.
 */
export function churnEdits(shape: ScaleShape, round: number, percent: number): ServiceEdit[] {
  const count = Math.max(1, Math.round((shape.services * percent) / 100));
  const step = shape.services / count;
  const out: ServiceEdit[] = [];
  for (let t = 0; t < count; t++) {
    const service = Math.floor(t * step + ((round * 7) % step)) % shape.services;
    out.push({ service, ip: `10.${200 + (round % 50)}.${t >> 8}.${t & 255}` });
  }
  return out;
}

/** The address single change `k` (from 1) moves an endpoint to. */
export function singleChangeIP(k: number): string {
  return `10.250.${k >> 8}.${k & 255}`;
}

/** The manifest file of service i: its Service and its EndpointSlice. */
export function manifestText(shape: ScaleShape, i: number, edit?: SliceEdit): string {
  const svc = serviceObject(shape, i);
  const slice = sliceObject(shape, i, edit);
  if (shape.format === "yaml") return `${dump(svc)}---\n${dump(slice)}`;
  const list = { apiVersion: "v1", kind: "List", items: [svc, slice], metadata: {} };
  return JSON.stringify(list, null, 2) + "\n";
}

/** The configuration `kipvs run` ends up with under the benchmark's flags. */
export function benchConfig(): ProxyConfig {
  return { ...DEFAULT_CONFIG, hostname: NODE_NAME };
}

/** The plan kipvs makes of manifest texts, read the way the manifest source reads them. */
export function planTexts(texts: Iterable<[file: string, text: string]>): DesiredState {
  const services = new Map<string, Service>();
  const endpointSlices = new Map<string, EndpointSlice>();
  const logger = new Logger({ level: "error" });
  for (const [file, text] of texts) {
    for (
      const d of loadManifest(text, file, { nodeName: NODE_NAME, logger }).definitions.values()
    ) {
      const o = d.object;
      const key = `${o.metadata.namespace}/${o.metadata.name}`;
      if (o.kind === "Service") services.set(key, o);
      else if (o.kind === "EndpointSlice") endpointSlices.set(key, o);
    }
  }
  const config = benchConfig();
  const node = nodeInfo({
    config,
    interfaces: [
      { name: "lo", address: "127.0.0.1", family: "IPv4" },
      { name: NODE_IF.name, address: NODE_IF.address, family: "IPv4" },
    ],
  });
  return plan({ services, endpointSlices }, { config, node });
}

/** What the direct baseline loads, one input per tool. */
export interface BaselineInputs {
  /** `ipvsadm -R` input. */
  ipvsadmRules: string;
  /** `ipset restore` input. */
  ipset: string;
  /** `iptables-restore --noflush` input per family. */
  iptables: { 4: string; 6: string };
  /** `ip -batch` input: kube-ipvs0's addresses. */
  addresses: string;
  /** Operations each input holds, for the report. */
  counts: { virtualServers: number; realServers: number; ipsetLines: number; addresses: number };
}

/** The baseline's inputs for a desired state, each rendered by kipvs's own code. */
export function baselineInputs(desired: DesiredState): BaselineInputs {
  const config = benchConfig();
  const table: RulesEntry[] = [];
  let realServers = 0;
  for (const vs of desired.virtualServers.values()) {
    table.push({
      ...toKernelService(vs),
      destinations: vs.realServers.map((rs) => toKernelDestination(rs, vs)),
    });
    realServers += vs.realServers.length;
  }
  const sets = planIpsetRestore({
    desired: desired.ipsets,
    families: config.families,
    current: new Map(),
  });
  const rules = (family: 4 | 6) =>
    planIptablesRestore({
      desired: renderIptables(
        planRules({ family, config, ipsets: desired.ipsets, randomFully: true }),
      ),
      current: new Map(),
    }).payload;
  const addresses = [...desired.addresses].map((a) =>
    `address add ${a}/${a.includes(":") ? 128 : 32} dev kube-ipvs0\n`
  );
  return {
    ipvsadmRules: formatRules(table),
    ipset: restoreText(sets.ops),
    iptables: { 4: rules(4), 6: rules(6) },
    addresses: addresses.join(""),
    counts: {
      virtualServers: table.length,
      realServers,
      ipsetLines: restoreText(sets.ops).split("\n").length - 1,
      addresses: addresses.length,
    },
  };
}
