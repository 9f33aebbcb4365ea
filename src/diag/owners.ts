/**
 * Which namespace/service:port a virtual server in the kernel belongs to. With a source, the
 * plan says it (every planned virtual server carries its owner and kind). Without one, the
 * kernel holds no names: the kind follows from kube-proxy's ipsets (a cluster IP is in
 * KUBE-CLUSTER-IP, a node port in KUBE-NODE-PORT-TCP, ...), and a node port, external or load
 * balancer virtual server is grouped under the cluster IP whose real servers include all of its
 * own when exactly one such cluster IP exists (the same service port, seen from outside).
 *
 * @module
 */

import { SET, type SetBase, setName } from "../dataplane/ipset/sets.ts";
import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import type { ServiceEntry } from "../dataplane/ipvs/types.ts";
import { isFwmarkKey } from "../dataplane/ipvs/types.ts";
import { serviceKeyText } from "../dataplane/ipvs/describe.ts";
import type { Family } from "../net/family.ts";
import {
  type DesiredState,
  type ServicePortRef,
  virtualServerKey,
  type VirtualServerKind,
  type VirtualServerSpec,
} from "../plan/desired.ts";
import { destinationKey, kernelServiceKey } from "../reconcile/ipvs.ts";

/** A kind, or "unknown" when neither the plan nor the kernel's sets tell it. */
export type Kind = VirtualServerKind | "unknown";

/** Who a kernel virtual server belongs to. */
export interface Owner {
  /** The group it is shown under: "default/web:http", or a cluster IP's key without a source. */
  group: string;
  /** The service port, when the plan names it. */
  service?: ServicePortRef;
  kind: Kind;
  /** The planned spec, when there is one (real servers' `local` flags). */
  desired?: VirtualServerSpec;
}

/** Group names of virtual servers no service port claims. */
export const UNOWNED = {
  /** With a source: in the kernel, not in the plan (a sync removes it, unless excluded). */
  notPlanned: "(not in plan)",
  /** Firewall-mark virtual servers: never kipvs's or kube-proxy's. */
  fwmark: "(fwmark, not kipvs)",
  /** Inside --ipvs-exclude-cidrs: left alone by kipvs. */
  excluded: "(excluded by --ipvs-exclude-cidrs)",
} as const;

/** "default/web:http", "default/web" for an unnamed port. */
export function portRefText(ref: ServicePortRef): string {
  return `${ref.namespace}/${ref.name}${ref.port ? `:${ref.port}` : ""}`;
}

/** Options of {@link attribute}. */
export interface AttributeOptions {
  entries: readonly ServiceEntry[];
  /** The plan; without it, names are inferred from `ipsets`. */
  desired?: DesiredState;
  ipsets: IpsetSnapshot;
  /** Whether an address is inside --ipvs-exclude-cidrs. */
  excluded?: (address: string) => boolean;
}

/** The owner of each kernel virtual server, by {@link serviceKeyText}. */
export function attribute(options: AttributeOptions): Map<string, Owner> {
  const out = new Map<string, Owner>();
  const inferred = options.desired ? undefined : inferKinds(options.entries, options.ipsets);
  for (const e of options.entries) {
    const text = serviceKeyText(e.key);
    if (isFwmarkKey(e.key)) {
      out.set(text, { group: UNOWNED.fwmark, kind: "unknown" });
      continue;
    }
    const vsKey = virtualServerKey(e.key);
    const spec = options.desired?.virtualServers.get(vsKey);
    if (spec) {
      out.set(text, {
        group: portRefText(spec.owner),
        service: spec.owner,
        kind: spec.kind,
        desired: spec,
      });
    } else if (options.excluded?.(e.key.address)) {
      out.set(text, { group: UNOWNED.excluded, kind: "unknown" });
    } else if (options.desired) {
      out.set(text, { group: UNOWNED.notPlanned, kind: "unknown" });
    } else {
      out.set(text, inferred?.get(vsKey) ?? { group: vsKey, kind: "unknown" });
    }
  }
  return out;
}

// Sets whose ip,proto:port entries name a virtual server's kind, most specific first.
const ADDRESS_KINDS: [SetBase, VirtualServerKind][] = [
  [SET.CLUSTER_IP, "cluster-ip"],
  [SET.LOAD_BALANCER, "load-balancer"],
  [SET.EXTERNAL_IP, "external-ip"],
  [SET.EXTERNAL_IP_LOCAL, "external-ip"],
];
const NODE_PORT_SETS: Record<string, SetBase[]> = {
  TCP: [SET.NODE_PORT_TCP, SET.NODE_PORT_LOCAL_TCP],
  UDP: [SET.NODE_PORT_UDP, SET.NODE_PORT_LOCAL_UDP],
  SCTP: [SET.NODE_PORT_SCTP, SET.NODE_PORT_LOCAL_SCTP],
};

/** The kind of an address virtual server from kube-proxy's sets. */
export function kindFromSets(
  key: { family: Family; protocol: string; address: string; port: number },
  ipsets: IpsetSnapshot,
): Kind {
  const has = (base: SetBase, entry: string) =>
    ipsets.get(setName(base, key.family))?.members.has(entry) ?? false;
  const entry = `${key.address},${key.protocol.toLowerCase()}:${key.port}`;
  for (const [base, kind] of ADDRESS_KINDS) if (has(base, entry)) return kind;
  const np = NODE_PORT_SETS[key.protocol] ?? [];
  const npEntry = key.protocol === "SCTP" ? entry : String(key.port);
  if (np.some((b) => has(b, npEntry))) return "node-port";
  return "unknown";
}

function inferKinds(entries: readonly ServiceEntry[], ipsets: IpsetSnapshot): Map<string, Owner> {
  const out = new Map<string, Owner>();
  // protocol|real server -> the cluster IPs that have it, and each cluster IP's real servers.
  const holders = new Map<string, string[]>();
  const clusterReal = new Map<string, Set<string>>();
  const rest: { key: string; protocol: string; real: string[] }[] = [];
  for (const e of entries) {
    const key = kernelServiceKey(e.key);
    if (!key || isFwmarkKey(e.key)) continue;
    const kind = kindFromSets(e.key, ipsets);
    const real = e.destinations.map(destinationKey);
    out.set(key, { group: key, kind });
    if (kind !== "cluster-ip") {
      rest.push({ key, protocol: e.key.protocol, real });
      continue;
    }
    clusterReal.set(key, new Set(real));
    for (const r of real) {
      const k = `${e.key.protocol}|${r}`;
      const list = holders.get(k);
      if (list) list.push(key);
      else holders.set(k, [key]);
    }
  }
  // A cluster IP holding all of a virtual server's real servers holds its first one.
  for (const r of rest) {
    if (r.real.length === 0) continue;
    const parents = (holders.get(`${r.protocol}|${r.real[0]}`) ?? []).filter((c) =>
      r.real.every((d) => clusterReal.get(c)!.has(d))
    );
    if (parents.length === 1) out.set(r.key, { ...out.get(r.key)!, group: parents[0]! });
  }
  return out;
}
