/**
 * What `kipvs explain` says about the service that owns the traced address: its name, kind and
 * policies (from the source), or the kind kube-proxy's sets tell without one, and notes when the
 * address belongs to a service on other ports or the plan has a virtual server the kernel lacks.
 *
 * @module
 */

import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import type { Service } from "../k8s/types.ts";
import type { DesiredState, VirtualServerSpec } from "../plan/desired.ts";
import type { Kind } from "./owners.ts";
import { kindFromSets, portRefText } from "./owners.ts";
import { type ExplainTarget, targetText } from "./target.ts";

/** The service that owns the address, when known. */
export interface ExplainService {
  /** "default/web:http"; absent without a source. */
  name?: string;
  kind: Kind;
  /** The service's traffic policies and affinity, with a source. */
  policy?: { internal: string; external: string; affinity: string };
}

/** Options of {@link describeService}. */
export interface DescribeServiceOptions {
  target: ExplainTarget;
  /** The planned virtual server of the target, when the plan has one. */
  spec?: VirtualServerSpec;
  hasSource: boolean;
  ipsets: IpsetSnapshot;
  /** The source's services, for policies ("namespace/name"). */
  services?: ReadonlyMap<string, Service>;
}

/** The service of the traced address. */
export function describeService(o: DescribeServiceOptions): ExplainService {
  const spec = o.spec;
  if (!spec) return { kind: o.hasSource ? "unknown" : kindFromSets(o.target, o.ipsets) };
  const s = o.services?.get(`${spec.owner.namespace}/${spec.owner.name}`)?.spec;
  return {
    name: portRefText(spec.owner),
    kind: spec.kind,
    ...(s
      ? {
        policy: {
          internal: s.internalTrafficPolicy,
          external: s.externalTrafficPolicy,
          affinity: s.sessionAffinity === "ClientIP"
            ? `ClientIP ${s.sessionAffinityTimeoutSeconds}s`
            : "None",
        },
      }
      : {}),
  };
}

/** Options of {@link serviceNotes}. */
export interface ServiceNotesOptions {
  target: ExplainTarget;
  desired?: DesiredState;
  spec?: VirtualServerSpec;
  /** The kernel has a virtual server for the target. */
  inKernel: boolean;
}

/** Facts worth saying before the trace. */
export function serviceNotes(o: ServiceNotesOptions): string[] {
  const t = o.target;
  const notes: string[] = [];
  if (o.desired && !o.spec) {
    const same = [...o.desired.virtualServers.values()].filter((v) => v.address === t.address);
    if (same.length > 0) {
      const owners = [...new Set(same.map((v) => portRefText(v.owner)))].join(", ");
      const ports = same.map((v) => `${v.protocol.toLowerCase()}/${v.port}`).join(", ");
      notes.push(`${t.address} belongs to ${owners}, on ${ports}, not ${targetText(t)}`);
    } else notes.push(`no service in the source has ${targetText(t)}`);
  }
  if (o.spec && !o.inKernel) {
    notes.push(
      `the plan has ${targetText(t)} for ${portRefText(o.spec.owner)} but the kernel does not: ` +
        "a sync would add it (kipvs dump --diff)",
    );
  }
  return notes;
}
