/**
 * Validation of a core/v1 Service, with the API server's defaults applied.
 *
 * @module
 */

import type {
  IPFamily,
  LoadBalancerIngress,
  ObjectMeta,
  Protocol,
  Service,
  ServicePort,
  ServiceSpec,
  ServiceType,
} from "./types.ts";
import { type Checker, type Raw } from "./_check.ts";
import { DNS_LABEL, PORT_NAME } from "./names.ts";

/** Protocols of service and endpoint ports. */
export const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];
const TYPES: readonly ServiceType[] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const FAMILIES: readonly IPFamily[] = ["IPv4", "IPv6"];
const POLICIES = ["Cluster", "Local"] as const;
/** The API's default ClientIP affinity timeout: 3 hours. */
export const DEFAULT_AFFINITY_TIMEOUT = 10800;
/** The API's maximum ClientIP affinity timeout: 1 day. */
export const MAX_AFFINITY_TIMEOUT = 86400;

/** Reads a Service whose metadata was read already. */
export function readService(raw: Raw, metadata: ObjectMeta, c: Checker): Service {
  const s = c.record(raw.spec, "spec") ?? {};
  const type = c.oneOf(s.type, "spec.type", TYPES) ?? "ClusterIP";
  const { clusterIP, clusterIPs, ipFamilies } = readClusterIPs(s, c);
  const sessionAffinity =
    c.oneOf(s.sessionAffinity, "spec.sessionAffinity", ["None", "ClientIP"]) ??
      "None";
  const spec: ServiceSpec = {
    type,
    clusterIP,
    clusterIPs,
    ipFamilies,
    ports: readPorts(s, type, c),
    externalIPs: c.list(s.externalIPs, "spec.externalIPs").flatMap((v, i) => {
      const ip = c.ip(v, `spec.externalIPs[${i}]`, true);
      return ip ? [ip.text] : [];
    }),
    sessionAffinity,
    sessionAffinityTimeoutSeconds: readAffinityTimeout(s, c),
    externalTrafficPolicy:
      c.oneOf(s.externalTrafficPolicy, "spec.externalTrafficPolicy", POLICIES) ??
        "Cluster",
    internalTrafficPolicy:
      c.oneOf(s.internalTrafficPolicy, "spec.internalTrafficPolicy", POLICIES) ??
        "Cluster",
    healthCheckNodePort: c.integer(s.healthCheckNodePort, "spec.healthCheckNodePort", 0, 65535) ??
      0,
    loadBalancerSourceRanges: c.list(s.loadBalancerSourceRanges, "spec.loadBalancerSourceRanges")
      .flatMap((v, i) => {
        const cidr = c.cidr(v, `spec.loadBalancerSourceRanges[${i}]`);
        return cidr ? [cidr.text] : [];
      }),
  };
  const externalName = c.string(s.externalName, "spec.externalName");
  if (externalName !== undefined && externalName !== "") spec.externalName = externalName;
  return {
    kind: "Service",
    metadata,
    spec,
    status: { loadBalancer: { ingress: readIngress(raw, c) } },
  };
}

/** clusterIP and clusterIPs kept in step, and ipFamilies derived from them when absent. */
function readClusterIPs(
  s: Raw,
  c: Checker,
): { clusterIP: string; clusterIPs: string[]; ipFamilies: IPFamily[] } {
  const readOne = (v: unknown, field: string): { text: string; family?: IPFamily } | undefined => {
    const str = c.string(v, field);
    if (str === undefined || str === "" || str === "None") return str ? { text: str } : undefined;
    const ip = c.ip(str, field);
    return ip ? { text: ip.text, family: ip.family === 4 ? "IPv4" : "IPv6" } : undefined;
  };
  const primary = readOne(s.clusterIP, "spec.clusterIP");
  const list = c.list(s.clusterIPs, "spec.clusterIPs").map((v, i) =>
    readOne(v, `spec.clusterIPs[${i}]`) ?? { text: "" }
  );
  if (list.length > 2) c.fail("spec.clusterIPs", s.clusterIPs, "may hold at most 2 addresses");
  if (primary && list[0] && list[0].text !== "" && list[0].text !== primary.text) {
    c.fail("spec.clusterIPs[0]", s.clusterIPs, `must equal spec.clusterIP ${primary.text}`);
  }
  if (list.length === 0 && primary) list.push(primary);
  if (list.some((x) => x.text === "None") && list.length > 1) {
    c.fail("spec.clusterIPs", s.clusterIPs, "may not mix None with addresses");
  }
  const second = list[1];
  if (list[0]?.family && second?.family && list[0].family === second.family) {
    c.fail("spec.clusterIPs[1]", second.text, `must be of the other family than ${list[0].text}`);
  }
  const given = c.list(s.ipFamilies, "spec.ipFamilies").flatMap((v, i) => {
    const f = c.oneOf(v, `spec.ipFamilies[${i}]`, FAMILIES);
    return f ? [f] : [];
  });
  if (given.length > 2 || new Set(given).size !== given.length) {
    c.fail("spec.ipFamilies", s.ipFamilies, "must hold IPv4, IPv6 or both, each once");
  }
  list.forEach((x, i) => {
    const f = given[i];
    if (x.family && f && f !== x.family) {
      c.fail(`spec.ipFamilies[${i}]`, f, `does not match spec.clusterIPs[${i}] ${x.text}`);
    }
  });
  const derived = list.flatMap((x) => x.family ? [x.family] : []);
  return {
    clusterIP: primary?.text ?? list[0]?.text ?? "",
    clusterIPs: list.map((x) => x.text).filter((t) => t !== ""),
    ipFamilies: given.length > 0 ? given : derived,
  };
}

function readPorts(s: Raw, type: ServiceType, c: Checker): ServicePort[] {
  const raw = c.list(s.ports, "spec.ports");
  const out: ServicePort[] = [];
  const names = new Set<string>();
  const seen = new Set<string>();
  const nodePorts = new Set<string>();
  raw.forEach((v, i) => {
    const f = `spec.ports[${i}]`;
    const p = c.element(v, f);
    if (p === undefined) return;
    const name = c.name(p.name, `${f}.name`, DNS_LABEL, false);
    if (raw.length > 1 && name === "") {
      c.fail(`${f}.name`, undefined, "required when the service has more than one port");
    } else if (names.has(name) && name !== "") {
      c.fail(`${f}.name`, name, "duplicate port name");
    }
    names.add(name);
    const protocol = c.oneOf(p.protocol, `${f}.protocol`, PROTOCOLS) ?? "TCP";
    const port = c.integer(p.port, `${f}.port`, 1, 65535);
    if (port === undefined && (p.port === undefined || p.port === null)) {
      c.fail(`${f}.port`, undefined, "required");
    }
    if (port !== undefined) {
      if (seen.has(`${protocol}/${port}`)) {
        c.fail(`${f}.port`, port, `duplicate: ${protocol} port ${port} is listed twice`);
      }
      seen.add(`${protocol}/${port}`);
    }
    const nodePort = c.integer(p.nodePort, `${f}.nodePort`, 0, 65535) ?? 0;
    if (nodePort !== 0) {
      if (type === "ClusterIP" || type === "ExternalName") {
        c.fail(`${f}.nodePort`, nodePort, `may not be set when spec.type is ${type}`);
      }
      if (nodePorts.has(`${protocol}/${nodePort}`)) {
        c.fail(
          `${f}.nodePort`,
          nodePort,
          `duplicate: ${protocol} node port ${nodePort} is listed twice`,
        );
      }
      nodePorts.add(`${protocol}/${nodePort}`);
    }
    const sp: ServicePort = { name, protocol, port: port ?? 0, nodePort };
    const tp = readTargetPort(p.targetPort, `${f}.targetPort`, c);
    if (tp !== undefined) sp.targetPort = tp;
    out.push(sp);
  });
  return out;
}

function readTargetPort(v: unknown, field: string, c: Checker): number | string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number") return c.integer(v, field, 1, 65535);
  const s = c.string(v, field);
  if (s === undefined) return undefined;
  if (!PORT_NAME.test(s)) {
    c.fail(field, s, `not a port number or port name: a name ${PORT_NAME.describe}`);
    return undefined;
  }
  return s;
}

function readAffinityTimeout(s: Raw, c: Checker): number {
  const cfg = c.record(s.sessionAffinityConfig, "spec.sessionAffinityConfig");
  const clientIP = c.record(cfg?.clientIP, "spec.sessionAffinityConfig.clientIP");
  return c.integer(
    clientIP?.timeoutSeconds,
    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
    1,
    MAX_AFFINITY_TIMEOUT,
  ) ?? DEFAULT_AFFINITY_TIMEOUT;
}

function readIngress(raw: Raw, c: Checker): LoadBalancerIngress[] {
  const status = c.record(raw.status, "status");
  const lb = c.record(status?.loadBalancer, "status.loadBalancer");
  return c.list(lb?.ingress, "status.loadBalancer.ingress").flatMap((v, i) => {
    const f = `status.loadBalancer.ingress[${i}]`;
    const r = c.element(v, f);
    if (r === undefined) return [];
    const ing: LoadBalancerIngress = {};
    const ip = c.ip(r.ip, `${f}.ip`);
    if (ip) ing.ip = ip.text;
    const hostname = c.string(r.hostname, `${f}.hostname`);
    if (hostname) ing.hostname = hostname;
    const mode = c.oneOf(r.ipMode, `${f}.ipMode`, ["VIP", "Proxy"]);
    if (mode) ing.ipMode = mode;
    return [ing];
  });
}
