/**
 * Validated objects in compact form, as `validateObject` returns them (the sources keep tens of
 * thousands): the readers build arrays by `flatMap` (a one-element array keeps room for 17) and
 * objects by adding fields one by one (fields past the literal's go to a second allocation);
 * the copies here are object literals with their fields in place and arrays of their exact
 * length. What many objects hold alike is
 * shared instead of copied: the endpoint conditions (eight combinations for a million
 * endpoints), empty annotations, lists and statuses, and the strings that repeat (namespaces,
 * node names, zones, label values such as the slice controller's name), interned.
 *
 * Shared parts are frozen: validated objects are read, never changed, and a change to a shared
 * part would change every object holding it. This replaces a JSON round trip in the sources,
 * which made the objects compact too (10,000 Services with a 10-endpoint slice each: ~31 MB
 * live instead of ~89 MB as read) at the cost of a string of every object.
 *
 * @module
 */

import type {
  Endpoint,
  EndpointConditions,
  EndpointSlice,
  KubeObject,
  LoadBalancerIngress,
  Node,
  ObjectMeta,
  Service,
  ServicePort,
} from "./types.ts";

const EMPTY_STRINGS: readonly string[] = Object.freeze([]);
const EMPTY_RECORD: Readonly<Record<string, string>> = Object.freeze({});
const NO_INGRESS = Object.freeze({ loadBalancer: Object.freeze({ ingress: EMPTY_STRINGS }) });

/** The eight endpoint conditions, frozen, by ready + 2 serving + 4 terminating. */
const CONDITIONS: readonly EndpointConditions[] = Array.from(
  { length: 8 },
  (_, i) =>
    Object.freeze({ ready: (i & 1) !== 0, serving: (i & 2) !== 0, terminating: (i & 4) !== 0 }),
);

/** Strings interned so far (a bounded table: past it, strings are kept as they come). */
const interned = new Map<string, string>();
const MAX_INTERNED = 20_000;

/** The one copy of `s` this module keeps (for the fields where values repeat). */
function intern(s: string): string {
  const have = interned.get(s);
  if (have !== undefined) return have;
  if (interned.size < MAX_INTERNED) interned.set(s, s);
  return s;
}

/** `list` copied to an array of its own length (the shared empty one when empty). */
function strings(list: readonly string[], share = false): string[] {
  if (list.length === 0) return EMPTY_STRINGS as string[];
  const out = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) out[i] = share ? intern(list[i]!) : list[i]!;
  return out;
}

/** A string map copied in one piece, values interned (the shared empty one when empty). */
function record(r: Readonly<Record<string, string>>): Record<string, string> {
  let out: Record<string, string> | undefined;
  for (const k in r) {
    out ??= {};
    out[k] = intern(r[k]!);
  }
  return out ?? EMPTY_RECORD as Record<string, string>;
}

function meta(m: ObjectMeta): ObjectMeta {
  const out: ObjectMeta = {
    name: m.name,
    namespace: intern(m.namespace),
    labels: record(m.labels),
    annotations: record(m.annotations),
  };
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  if (m.creationTimestamp !== undefined) out.creationTimestamp = m.creationTimestamp;
  return out;
}

function endpoint(e: Endpoint): Endpoint {
  const c = e.conditions;
  const conditions = CONDITIONS[(c.ready ? 1 : 0) | (c.serving ? 2 : 0) | (c.terminating ? 4 : 0)]!;
  const addresses = strings(e.addresses);
  let out: Endpoint;
  if (e.nodeName === undefined) out = { addresses, conditions };
  else if (e.zone === undefined) out = { addresses, conditions, nodeName: intern(e.nodeName) };
  else out = { addresses, conditions, nodeName: intern(e.nodeName), zone: intern(e.zone) };
  if (e.nodeName === undefined && e.zone !== undefined) out.zone = intern(e.zone);
  if (e.hints !== undefined) {
    out.hints = {
      forZones: strings(e.hints.forZones, true),
      forNodes: strings(e.hints.forNodes, true),
    };
  }
  return out;
}

function slice(s: EndpointSlice): EndpointSlice {
  return {
    kind: "EndpointSlice",
    metadata: meta(s.metadata),
    addressType: s.addressType,
    endpoints: s.endpoints.map(endpoint),
    ports: s.ports.map((p) => ({ name: intern(p.name), protocol: p.protocol, port: p.port })),
  };
}

function servicePort(p: ServicePort): ServicePort {
  const name = intern(p.name);
  return p.targetPort === undefined
    ? { name, protocol: p.protocol, port: p.port, nodePort: p.nodePort }
    : { name, protocol: p.protocol, port: p.port, nodePort: p.nodePort, targetPort: p.targetPort };
}

function ingress(i: LoadBalancerIngress): LoadBalancerIngress {
  const out: LoadBalancerIngress = {};
  if (i.ip !== undefined) out.ip = i.ip;
  if (i.hostname !== undefined) out.hostname = i.hostname;
  if (i.ipMode !== undefined) out.ipMode = i.ipMode;
  return out;
}

function service(svc: Service): Service {
  const s = svc.spec;
  const spec: Service["spec"] = {
    type: s.type,
    clusterIP: s.clusterIP,
    clusterIPs: s.clusterIPs.length === 1 && s.clusterIPs[0] === s.clusterIP
      ? [s.clusterIP]
      : strings(s.clusterIPs),
    ipFamilies: strings(s.ipFamilies, true) as Service["spec"]["ipFamilies"],
    ports: s.ports.map(servicePort),
    externalIPs: strings(s.externalIPs),
    sessionAffinity: s.sessionAffinity,
    sessionAffinityTimeoutSeconds: s.sessionAffinityTimeoutSeconds,
    externalTrafficPolicy: s.externalTrafficPolicy,
    internalTrafficPolicy: s.internalTrafficPolicy,
    healthCheckNodePort: s.healthCheckNodePort,
    loadBalancerSourceRanges: strings(s.loadBalancerSourceRanges),
  };
  if (s.externalName !== undefined) spec.externalName = s.externalName;
  const lb = svc.status.loadBalancer.ingress;
  return {
    kind: "Service",
    metadata: meta(svc.metadata),
    spec,
    status: lb.length === 0
      ? NO_INGRESS as unknown as Service["status"]
      : { loadBalancer: { ingress: lb.map(ingress) } },
  };
}

function node(n: Node): Node {
  return {
    kind: "Node",
    metadata: meta(n.metadata),
    spec: {
      taints: n.spec.taints.map((t) =>
        t.value === undefined
          ? { key: t.key, effect: t.effect }
          : { key: t.key, effect: t.effect, value: t.value }
      ),
      podCIDRs: strings(n.spec.podCIDRs),
    },
    status: { addresses: n.status.addresses.map((a) => ({ type: a.type, address: a.address })) },
  };
}

/**
 * A structurally equal copy of a validated object in compact form (see the module's comment);
 * its shared parts are frozen.
 */
export function compact<T extends KubeObject>(object: T): T {
  switch (object.kind) {
    case "EndpointSlice":
      return slice(object) as T;
    case "Service":
      return service(object) as T;
    case "Node":
      return node(object) as T;
  }
  return object;
}
