/**
 * How IPVS objects are named in messages and keyed in maps, the checks every op passes before
 * it reaches the kernel (or the fake): what cannot even be encoded is refused here with EINVAL
 * and a message naming the field and the value; and the failed result of an op, whose message
 * says what the kernel's errno means for it.
 *
 * @module
 */

import { canonicalIP, ipFamily } from "../../net/ip.ts";
import type { Family } from "../../net/family.ts";
import { ERRNO, netlinkError } from "../netlink/errno.ts";
import { FWD, SCHEDULERS, TUN_TYPE } from "./constants.ts";
import {
  type Destination,
  type DestinationKey,
  type IpvsOp,
  type IpvsResult,
  isFwmarkKey,
  type ServiceKey,
  type VirtualServer,
} from "./types.ts";

const hostPort = (address: string, port: number) =>
  address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;

/** "TCP/10.96.0.10:80", "UDP/[fd00::a]:53", "FWM/4660", "FWM6/4660" (an IPv6 fwmark service). */
export function serviceKeyText(key: ServiceKey): string {
  if (isFwmarkKey(key)) return `${key.family === 6 ? "FWM6" : "FWM"}/${key.fwmark}`;
  return `${key.protocol}/${hostPort(key.address, key.port)}`;
}

/** The identity of a service as a map key: {@link serviceKeyText} with a canonical address. */
export function serviceKeyId(key: ServiceKey): string {
  if (isFwmarkKey(key)) return serviceKeyText(key);
  return serviceKeyText({ ...key, address: canonicalIP(key.address) ?? key.address });
}

/** "10.244.1.2:8080", "[fd00::2]:8080". */
export function destinationText(d: DestinationKey): string {
  return hostPort(d.address, d.port);
}

/** The identity of a destination within its service, with a canonical address. */
export function destinationId(d: DestinationKey): string {
  return hostPort(canonicalIP(d.address) ?? d.address, d.port);
}

/** "add destination 10.244.1.2:8080 to TCP/10.96.0.10:80". */
export function opText(op: IpvsOp): string {
  switch (op.op) {
    case "add-service":
      return `add service ${serviceKeyText(op.service.key)}`;
    case "update-service":
      return `update service ${serviceKeyText(op.service.key)}`;
    case "delete-service":
      return `delete service ${serviceKeyText(op.key)}`;
    case "add-destination":
      return `add destination ${destinationText(op.destination)} to ${serviceKeyText(op.service)}`;
    case "update-destination":
      return `update destination ${destinationText(op.destination)} of ${
        serviceKeyText(op.service)
      }`;
    case "delete-destination":
      return `delete destination ${destinationText(op.destination)} from ${
        serviceKeyText(op.service)
      }`;
  }
}

/** Why an op cannot be sent: EINVAL with the field and value that were wrong. */
export interface Invalid {
  errno: number;
  reason: string;
}

const isU = (v: number, max: number) => Number.isInteger(v) && v >= 0 && v <= max;
const isI32 = (v: number) => Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff;

function addressProblem(what: string, address: string, family: Family): string | undefined {
  const f = ipFamily(address);
  if (!f) return `invalid ${what} address "${address}"`;
  if (f !== family) return `${what} address "${address}" is not IPv${family}`;
  return undefined;
}

function keyProblem(key: ServiceKey): string | undefined {
  if (key.family !== 4 && key.family !== 6) return `invalid family ${key.family}`;
  if (isFwmarkKey(key)) {
    return isU(key.fwmark, 0xffff_ffff) && key.fwmark > 0
      ? undefined
      : `invalid fwmark ${key.fwmark}`;
  }
  if (!["TCP", "UDP", "SCTP"].includes(key.protocol)) return `invalid protocol "${key.protocol}"`;
  if (!isU(key.port, 0xffff)) return `invalid port ${key.port}`;
  return addressProblem("service", key.address, key.family);
}

function serviceProblem(s: VirtualServer): string | undefined {
  const k = keyProblem(s.key);
  if (k) return k;
  if (!(SCHEDULERS as readonly string[]).includes(s.scheduler)) {
    return `unknown scheduler "${s.scheduler}" (known: ${SCHEDULERS.join(" ")})`;
  }
  if (!isU(s.flags, 0xffff_ffff)) return `invalid flags ${s.flags}`;
  if (!isU(s.timeout, 0xffff_ffff)) return `invalid persistence timeout ${s.timeout}`;
  const maxMask = s.key.family === 4 ? 32 : 128;
  if (!isU(s.netmask, maxMask)) return `invalid netmask /${s.netmask} for IPv${s.key.family}`;
  return undefined;
}

function destinationProblem(
  d: DestinationKey & Partial<Destination>,
  full: boolean,
): string | undefined {
  if (!isU(d.port, 0xffff)) return `invalid destination port ${d.port}`;
  const f = ipFamily(d.address);
  if (!f) return `invalid destination address "${d.address}"`;
  if (d.family !== undefined && d.family !== f) {
    return `destination address "${d.address}" is not IPv${d.family}`;
  }
  if (!full) return undefined;
  if (!(d.forward !== undefined && d.forward in FWD)) {
    return `invalid forwarding method "${d.forward}" (known: ${Object.keys(FWD).join(" ")})`;
  }
  // Negative weights and thresholds are encodable: the kernel itself answers ERANGE.
  for (const f of ["weight", "upperThreshold", "lowerThreshold"] as const) {
    if (!isI32(d[f] ?? 0)) return `invalid ${f} ${d[f]}`;
  }
  if (d.tunnel) {
    if (!(d.tunnel.type in TUN_TYPE)) return `invalid tunnel type "${d.tunnel.type}"`;
    if (!isU(d.tunnel.port, 0xffff)) return `invalid tunnel port ${d.tunnel.port}`;
    if (!isU(d.tunnel.flags, 0xffff)) return `invalid tunnel flags ${d.tunnel.flags}`;
  }
  return undefined;
}

/** Checks an op before it is sent; undefined when it can be encoded. */
export function checkOp(op: IpvsOp): Invalid | undefined {
  let reason: string | undefined;
  switch (op.op) {
    case "add-service":
    case "update-service":
      reason = serviceProblem(op.service);
      break;
    case "delete-service":
      reason = keyProblem(op.key);
      break;
    default:
      reason = keyProblem(op.service) ??
        destinationProblem(op.destination, op.op !== "delete-destination");
  }
  return reason === undefined ? undefined : { errno: ERRNO.EINVAL, reason };
}

/** What to add to the errno text so the message says what it means for this op. */
export function kernelHint(op: IpvsOp, errno: number): string | undefined {
  if (errno === ERRNO.ENOBUFS) return "outcome unknown: the kernel's reply was lost";
  if (op.op === "add-service" || op.op === "update-service") {
    if (errno === ERRNO.ENOENT) {
      const { scheduler, persistenceEngine: pe } = op.service;
      return `scheduler "${scheduler}" is not in this kernel (module ip_vs_${scheduler})` +
        (pe ? `, or persistence engine "${pe}" (module ip_vs_pe_${pe})` : "");
    }
    if (op.op === "update-service" && errno === ERRNO.ESRCH) return "no such service";
    return undefined;
  }
  if (errno === ERRNO.ESRCH) return "no such service";
  if (errno === ERRNO.ENOENT && op.op !== "delete-service") return "no such destination";
  if (errno === ERRNO.EINVAL && op.op !== "delete-destination" && op.op !== "delete-service") {
    // The kernel's usual reasons for refusing a real server that passed checkOp().
    return "the kernel takes only unicast real servers, of the service's family unless " +
      "tunnelled, and none while loopback is down in the network namespace";
  }
  return undefined;
}

/** The failed result of `op`. */
export function failedResult(op: IpvsOp, errno: number, hint?: string): IpvsResult {
  const error = netlinkError({
    what: opText(op),
    errno,
    hint: hint ?? kernelHint(op, errno),
    details: { op: op.op },
  });
  return { ok: false, op, errno, error };
}
