/**
 * `--config FILE`: a KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1), so an existing
 * kube-proxy ConfigMap works unchanged. Fields kipvs uses are mapped onto {@link ProxyConfig};
 * fields of kube-proxy's schema that do not apply to IPVS mode are accepted and ignored; fields
 * outside the schema, and invalid values, are errors naming the file, the field and the value.
 *
 * @module
 */

import { CORE_SCHEMA, load } from "js-yaml";
import { KipvsError } from "../errors.ts";
import { PROXY_SCHEDULERS, type ProxyConfig, RULES_BACKENDS, type RulesBackend } from "./config.ts";
import { parseDuration } from "./duration.ts";
import { parseCIDR } from "../net/ip.ts";

/** What a configuration file sets; only the fields present in the file. */
export interface FileConfig {
  config: Partial<ProxyConfig>;
  /** clientConnection.kubeconfig. */
  kubeconfig?: string;
  /** logging.format ("text" or "json"). */
  logFormat?: "text" | "json";
  /** logging.verbosity >= 4 means debug. */
  logLevel?: "info" | "debug";
}

type Obj = Record<string, unknown>;

// kube-proxy's schema across the releases that have IPVS mode: known fields, nested by section.
// `true` means a leaf kipvs reads or deliberately ignores; an object lists a section's fields.
const SCHEMA: Obj = {
  apiVersion: true,
  kind: true,
  featureGates: "map",
  clientConnection: {
    kubeconfig: true,
    acceptContentTypes: true,
    contentType: true,
    qps: true,
    burst: true,
  },
  logging: "map",
  hostnameOverride: true,
  bindAddress: true,
  healthzBindAddress: true,
  metricsBindAddress: true,
  bindAddressHardFail: true,
  enableProfiling: true,
  showHiddenMetricsForVersion: true,
  mode: true,
  iptables: {
    masqueradeBit: true,
    masqueradeAll: true,
    localhostNodePorts: true,
    syncPeriod: true,
    minSyncPeriod: true,
  },
  ipvs: {
    syncPeriod: true,
    minSyncPeriod: true,
    scheduler: true,
    excludeCIDRs: true,
    strictARP: true,
    tcpTimeout: true,
    tcpFinTimeout: true,
    udpTimeout: true,
  },
  nftables: "map",
  // kipvs's own settings (not kube-proxy's): `kipvs: { rulesBackend: nftables }`.
  kipvs: { rulesBackend: true },
  winkernel: "map",
  windowsRunAsService: true,
  linux: "map",
  windows: "map",
  detectLocalMode: true,
  detectLocal: { bridgeInterface: true, interfaceNamePrefix: true },
  clusterCIDR: true,
  nodePortAddresses: true,
  oomScoreAdj: true,
  conntrack: "map",
  configSyncPeriod: true,
  portRange: true,
  syncPeriod: true,
  minSyncPeriod: true,
};

type Bad = (field: string, value: unknown, why: string) => never;

/** Reads typed values out of a document, failing with the file, field and value. */
class FieldReader {
  constructor(readonly bad: Bad) {}
  str(v: unknown, f: string): string {
    return typeof v === "string" ? v : this.bad(f, v, "must be a string");
  }
  bool(v: unknown, f: string): boolean {
    return typeof v === "boolean" ? v : this.bad(f, v, "must be true or false");
  }
  /** A duration, in milliseconds. */
  dur(v: unknown, f: string): number {
    const ms = typeof v === "string" ? parseDuration(v) : undefined;
    return ms ?? this.bad(f, v, "is not a duration (e.g. 30s, 1m)");
  }
  list(v: unknown, f: string): string[] {
    return Array.isArray(v) && v.every((x) => typeof x === "string")
      ? v as string[]
      : this.bad(f, v, "must be a list of strings");
  }
  cidrs(v: string[], f: string): string[] {
    for (const x of v) if (!parseCIDR(x.trim())) this.bad(f, x, "is not a CIDR");
    return v.map((x) => x.trim()).filter(Boolean);
  }
}

/** Parses a KubeProxyConfiguration document; `source` names the file in errors. */
export function parseConfigFile(text: string, source: string): FileConfig {
  let doc: unknown;
  try {
    doc = load(text, { schema: CORE_SCHEMA, filename: source });
  } catch (err) {
    throw new KipvsError("invalid-config", `${source}: not valid YAML: ${(err as Error).message}`);
  }
  // null means "unset" in kube-proxy's files (Go pointer fields), so every check is != null.
  const bad: Bad = (field, value, why) => {
    throw new KipvsError("invalid-config", `${source}: ${field}: ${JSON.stringify(value)} ${why}`, {
      details: { file: source, field },
    });
  };
  if (!isObj(doc)) return bad("(document)", doc, "is not a KubeProxyConfiguration object");
  if (doc.kind !== "KubeProxyConfiguration") {
    bad("kind", doc.kind, "must be KubeProxyConfiguration");
  }
  if (doc.apiVersion !== "kubeproxy.config.k8s.io/v1alpha1") {
    bad("apiVersion", doc.apiVersion, "must be kubeproxy.config.k8s.io/v1alpha1");
  }
  checkSchema(doc, SCHEMA, "", bad);
  const out: FileConfig = { config: {} };
  const r = new FieldReader(bad);
  readTopLevel(doc, r, out.config);
  readIptables(isObj(doc.iptables) ? doc.iptables : {}, r, out.config);
  readIpvs(isObj(doc.ipvs) ? doc.ipvs : {}, r, out.config);
  readKipvs(isObj(doc.kipvs) ? doc.kipvs : {}, r, out.config);
  const cc = isObj(doc.clientConnection) ? doc.clientConnection : {};
  if (cc.kubeconfig) out.kubeconfig = r.str(cc.kubeconfig, "clientConnection.kubeconfig");
  const logging = isObj(doc.logging) ? doc.logging : {};
  if (logging.format === "json" || logging.format === "text") out.logFormat = logging.format;
  if (typeof logging.verbosity === "number") {
    out.logLevel = logging.verbosity >= 4 ? "debug" : "info";
  }
  return out;
}

function readTopLevel(doc: Obj, r: FieldReader, c: Partial<ProxyConfig>): void {
  if (doc.mode !== undefined && doc.mode !== "" && doc.mode !== "ipvs") {
    r.bad("mode", doc.mode, "is not supported: kipvs implements kube-proxy's ipvs mode only");
  }
  const dlm = doc.detectLocalMode;
  if (dlm !== undefined && dlm !== "" && dlm !== "ClusterCIDR") {
    r.bad("detectLocalMode", dlm, "is not supported: kipvs detects local traffic by clusterCIDR");
  }
  if (doc.hostnameOverride) c.hostname = r.str(doc.hostnameOverride, "hostnameOverride");
  // An empty address means kube-proxy's default, as kube-proxy's defaulting does.
  if (doc.healthzBindAddress) {
    c.healthzBindAddress = r.str(doc.healthzBindAddress, "healthzBindAddress");
  }
  if (doc.metricsBindAddress) {
    c.metricsBindAddress = r.str(doc.metricsBindAddress, "metricsBindAddress");
  }
  if (doc.clusterCIDR) {
    c.clusterCIDRs = r.cidrs(r.str(doc.clusterCIDR, "clusterCIDR").split(","), "clusterCIDR");
  }
  if (doc.nodePortAddresses != null) {
    c.nodePortAddresses = r.list(doc.nodePortAddresses, "nodePortAddresses");
  }
}

function readIptables(ipt: Obj, r: FieldReader, c: Partial<ProxyConfig>): void {
  if (ipt.masqueradeAll != null) {
    c.masqueradeAll = r.bool(ipt.masqueradeAll, "iptables.masqueradeAll");
  }
  if (ipt.masqueradeBit != null) {
    const b = ipt.masqueradeBit;
    c.masqueradeBit = Number.isInteger(b) && (b as number) >= 0 && (b as number) <= 31
      ? b as number
      : r.bad("iptables.masqueradeBit", b, "must be an integer 0-31");
  }
}

function readIpvs(ipvs: Obj, r: FieldReader, c: Partial<ProxyConfig>): void {
  if (ipvs.scheduler) {
    const s = r.str(ipvs.scheduler, "ipvs.scheduler");
    c.scheduler = PROXY_SCHEDULERS.includes(s)
      ? s
      : r.bad("ipvs.scheduler", s, `is not one of ${PROXY_SCHEDULERS.join(" ")}`);
  }
  if (ipvs.syncPeriod) {
    // 0 (kubeadm writes "0s") means the default, as kube-proxy's defaulting has it.
    const ms = r.dur(ipvs.syncPeriod, "ipvs.syncPeriod");
    if (ms !== 0) c.syncPeriodMs = ms;
  }
  if (ipvs.minSyncPeriod) c.minSyncPeriodMs = r.dur(ipvs.minSyncPeriod, "ipvs.minSyncPeriod");
  if (ipvs.excludeCIDRs != null) {
    // cleanup leaves what is inside these: a CIDR that does not parse must not be dropped.
    const list = r.list(ipvs.excludeCIDRs, "ipvs.excludeCIDRs");
    c.excludeCIDRs = r.cidrs(list, "ipvs.excludeCIDRs");
  }
  if (ipvs.strictARP != null) c.strictARP = r.bool(ipvs.strictARP, "ipvs.strictARP");
  if (ipvs.tcpTimeout) c.tcpTimeoutSeconds = r.dur(ipvs.tcpTimeout, "ipvs.tcpTimeout") / 1000;
  if (ipvs.tcpFinTimeout) {
    c.tcpFinTimeoutSeconds = r.dur(ipvs.tcpFinTimeout, "ipvs.tcpFinTimeout") / 1000;
  }
  if (ipvs.udpTimeout) c.udpTimeoutSeconds = r.dur(ipvs.udpTimeout, "ipvs.udpTimeout") / 1000;
  if (c.syncPeriodMs != null && c.syncPeriodMs <= 0) {
    r.bad("ipvs.syncPeriod", ipvs.syncPeriod, "must be greater than 0");
  }
}

function readKipvs(k: Obj, r: FieldReader, c: Partial<ProxyConfig>): void {
  if (k.rulesBackend == null) return;
  const b = r.str(k.rulesBackend, "kipvs.rulesBackend");
  c.rulesBackend = (RULES_BACKENDS as readonly string[]).includes(b)
    ? b as RulesBackend
    : r.bad("kipvs.rulesBackend", b, `is not one of ${RULES_BACKENDS.join(" ")}`);
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkSchema(
  doc: Obj,
  schema: Obj,
  prefix: string,
  bad: Bad,
): void {
  for (const [k, v] of Object.entries(doc)) {
    const rule = schema[k];
    const field = prefix + k;
    if (rule === undefined) bad(field, v, "is not a field of KubeProxyConfiguration v1alpha1");
    if (isObj(rule) && v != null) {
      if (!isObj(v)) bad(field, v, "must be an object");
      checkSchema(v as Obj, rule, field + ".", bad);
    }
  }
}
