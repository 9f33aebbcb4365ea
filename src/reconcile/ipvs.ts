/**
 * From desired virtual servers to IPVS operations: the kernel-vocabulary form of a spec, and the
 * fewest operations that take one observed virtual server to its desired form. Removed real
 * servers of TCP services drain (weight 0) while they still have connections, as kube-proxy's
 * graceful termination does; UDP and SCTP ones go at once (expire_nodest_conn drops their
 * connections).
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import type {
  AddressServiceKey,
  Destination,
  DestinationStatus,
  IpvsOp,
  ServiceEntry,
  ServiceKey,
  VirtualServer,
} from "../dataplane/ipvs/types.ts";
import { isFwmarkKey } from "../dataplane/ipvs/types.ts";
import type { StaleUdpFlow } from "../dataplane/conntrack/conntrack.ts";
import type { RealServerSpec, VirtualServerSpec } from "../plan/desired.ts";
import { virtualServerKey } from "../plan/desired.ts";
import { virtualServerFlags } from "../plan/vsflags.ts";

/** The kernel form of a desired virtual server. */
export function toKernelService(vs: VirtualServerSpec): VirtualServer {
  return {
    key: { family: vs.family, protocol: vs.protocol, address: vs.address, port: vs.port },
    scheduler: vs.scheduler,
    flags: virtualServerFlags(vs),
    timeout: vs.persistenceTimeout,
    netmask: vs.family === 4 ? 32 : 128,
    persistenceEngine: "",
  };
}

/** The kernel form of a desired real server: NAT forwarding, no thresholds. */
export function toKernelDestination(rs: RealServerSpec, vs: VirtualServerSpec): Destination {
  return {
    address: rs.address,
    port: rs.port,
    family: vs.family,
    forward: "masq",
    weight: rs.weight,
    upperThreshold: 0,
    lowerThreshold: 0,
  };
}

/** The {@link virtualServerKey} of a kernel service; undefined for fwmark services. */
export function kernelServiceKey(key: ServiceKey): string | undefined {
  return isFwmarkKey(key) ? undefined : virtualServerKey(key);
}

/** The kernel key of a {@link virtualServerKey} ("TCP/10.96.0.1:443", "UDP/[fd00::1]:53"). */
export function parseServiceKey(vsKey: string): AddressServiceKey {
  const m = /^(TCP|UDP|SCTP)\/(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(vsKey);
  if (!m) throw new KipvsError("internal", `not a virtual server key: "${vsKey}"`);
  const address = (m[2] ?? m[3]) as string;
  return {
    family: address.includes(":") ? 6 : 4,
    protocol: m[1] as AddressServiceKey["protocol"],
    address,
    port: Number(m[4]),
  };
}

/** "10.244.1.2:8080" / "[fd00::2]:8080". */
export function destinationKey(d: { address: string; port: number }): string {
  return d.address.includes(":") ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`;
}

/** A real server kipvs stopped wanting that still carries connections. */
export interface Draining {
  vs: string;
  service: ServiceKey;
  destination: DestinationStatus;
}

/** Operations for one virtual server, and what they leave draining. */
export interface VirtualServerDiff {
  ops: IpvsOp[];
  /** Real servers set to (or left at) weight 0 because they still have connections. */
  draining: Draining[];
  /** UDP real servers deleted (for conntrack cleanup). */
  removedUdp: StaleUdpFlow[];
}

/** Whether two kernel services differ in something SET_SERVICE changes. */
export function serviceDiffers(a: VirtualServer, b: VirtualServer): boolean {
  return a.scheduler !== b.scheduler || a.flags !== b.flags || a.timeout !== b.timeout ||
    a.netmask !== b.netmask || a.persistenceEngine !== b.persistenceEngine;
}

function destDiffers(want: Destination, have: Destination): boolean {
  return want.weight !== have.weight || want.forward !== have.forward ||
    want.upperThreshold !== have.upperThreshold || want.lowerThreshold !== have.lowerThreshold;
}

/**
 * The operations that make `observed` (read from the kernel, with connection counts) match
 * `desired`. Either may be undefined: add the whole service, or remove it. A removed service is
 * deleted at once with its real servers (kube-proxy does the same).
 */
export function diffVirtualServer(
  desired: VirtualServerSpec | undefined,
  observed: ServiceEntry | undefined,
): VirtualServerDiff {
  const out: VirtualServerDiff = { ops: [], draining: [], removedUdp: [] };
  if (!desired) {
    if (!observed) return out;
    out.ops.push({ op: "delete-service", key: observed.key });
    const k = observed.key;
    if (!isFwmarkKey(k) && k.protocol === "UDP") {
      for (const d of observed.destinations) {
        out.removedUdp.push({ vip: k.address, port: k.port, endpoint: d.address });
      }
    }
    return out;
  }
  const svc = toKernelService(desired);
  const vsKey = virtualServerKey(desired);
  if (!observed) {
    out.ops.push({ op: "add-service", service: svc });
    for (const rs of desired.realServers) {
      out.ops.push({
        op: "add-destination",
        service: svc.key,
        destination: toKernelDestination(rs, desired),
      });
    }
    return out;
  }
  if (serviceDiffers(svc, observed)) out.ops.push({ op: "update-service", service: svc });
  const have = new Map(observed.destinations.map((d) => [destinationKey(d), d]));
  for (const rs of desired.realServers) {
    const want = toKernelDestination(rs, desired);
    const cur = have.get(destinationKey(rs));
    have.delete(destinationKey(rs));
    if (!cur) out.ops.push({ op: "add-destination", service: svc.key, destination: want });
    else if (destDiffers(want, cur)) {
      out.ops.push({ op: "update-destination", service: svc.key, destination: want });
    }
  }
  for (const d of have.values()) {
    const conns = d.activeConnections + d.inactiveConnections;
    if (desired.protocol === "TCP" && conns > 0) {
      if (d.weight !== 0) {
        out.ops.push({
          op: "update-destination",
          service: svc.key,
          destination: { ...d, weight: 0 },
        });
      }
      out.draining.push({ vs: vsKey, service: svc.key, destination: d });
      continue;
    }
    out.ops.push({ op: "delete-destination", service: svc.key, destination: d });
    if (desired.protocol === "UDP") {
      out.removedUdp.push({ vip: desired.address, port: desired.port, endpoint: d.address });
    }
  }
  return out;
}
