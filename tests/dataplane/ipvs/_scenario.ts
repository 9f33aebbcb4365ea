/**
 * One fixed conversation with IPVS, shared by the capture of kernel replies (run in the guest,
 * tests/kernel/guest/ipvs_capture.ts), the replay unit test and the fake's test: the same calls
 * must give the same answers from the kernel, from its recorded bytes and from the fake.
 *
 * @module
 */

import type {
  Destination,
  Ipvs,
  IpvsOp,
  ServiceKey,
  VirtualServer,
} from "../../../src/dataplane/ipvs/types.ts";
import { SVC_F } from "../../../src/dataplane/ipvs/constants.ts";

export const TCP80: ServiceKey = { family: 4, protocol: "TCP", address: "10.96.0.10", port: 80 };
export const TCP443: ServiceKey = { family: 4, protocol: "TCP", address: "10.96.0.11", port: 443 };
export const UDP6: ServiceKey = { family: 6, protocol: "UDP", address: "fd00::a", port: 53 };
export const SCTP: ServiceKey = { family: 4, protocol: "SCTP", address: "10.96.0.12", port: 3868 };
export const FWM: ServiceKey = { family: 4, fwmark: 4660 };
export const FWM6: ServiceKey = { family: 6, fwmark: 4661 };
export const MISSING: ServiceKey = { family: 4, protocol: "TCP", address: "10.96.9.9", port: 1 };

/** A virtual server with kube-proxy's defaults. */
export function vs(key: ServiceKey, over: Partial<VirtualServer> = {}): VirtualServer {
  return {
    key,
    scheduler: "rr",
    flags: 0,
    timeout: 0,
    netmask: key.family === 4 ? 32 : 128,
    persistenceEngine: "",
    ...over,
  };
}

/** A NAT real server of weight 1. */
export function rs(address: string, port: number, over: Partial<Destination> = {}): Destination {
  return {
    address,
    port,
    family: address.includes(":") ? 6 : 4,
    forward: "masq",
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
    ...over,
  };
}

/** The batch of the scenario: every kind of service and real server, two failures inside. */
export const SCENARIO_OPS: IpvsOp[] = [
  { op: "add-service", service: vs(TCP80) },
  {
    op: "add-service",
    service: vs(TCP443, { scheduler: "wlc", flags: SVC_F.PERSISTENT, timeout: 600, netmask: 24 }),
  },
  {
    op: "add-service",
    service: vs(UDP6, {
      scheduler: "sh",
      flags: SVC_F.PERSISTENT | SVC_F.SCHED1 | SVC_F.SCHED2,
      timeout: 300,
      netmask: 64,
    }),
  },
  { op: "add-service", service: vs(SCTP, { scheduler: "lc" }) },
  { op: "add-service", service: vs(FWM, { scheduler: "mh", flags: SVC_F.SCHED1 | SVC_F.SCHED2 }) },
  {
    op: "add-service",
    service: vs(FWM6, { flags: SVC_F.PERSISTENT | SVC_F.ONEPACKET, timeout: 30 }),
  },
  { op: "add-destination", service: TCP80, destination: rs("10.244.1.2", 8080) },
  {
    op: "add-destination",
    service: TCP80,
    destination: rs("10.244.1.3", 8080, { weight: 3, upperThreshold: 100, lowerThreshold: 10 }),
  },
  {
    op: "add-destination",
    service: TCP443,
    destination: rs("10.244.2.2", 443, { forward: "droute" }),
  },
  {
    op: "add-destination",
    service: TCP443,
    destination: rs("10.244.2.3", 443, {
      forward: "tunnel",
      tunnel: { type: "gue", port: 6080, flags: 0 },
    }),
  },
  { op: "add-destination", service: UDP6, destination: rs("fd00:244::2", 5353, { weight: 0 }) },
  { op: "add-destination", service: SCTP, destination: rs("10.244.3.2", 3868) },
  { op: "add-destination", service: FWM, destination: rs("10.244.4.2", 0, { forward: "droute" }) },
  {
    op: "add-destination",
    service: FWM6,
    destination: rs("fd00:244::4", 0, { forward: "droute" }),
  },
  // A tunnel without encapsulation given: the kernel's default, ipip.
  {
    op: "add-destination",
    service: TCP443,
    destination: rs("10.244.2.4", 443, { forward: "tunnel" }),
  },
  // Two that fail: a duplicate (EEXIST) and a real server of a missing service (ESRCH).
  { op: "add-destination", service: TCP80, destination: rs("10.244.1.2", 8080) },
  { op: "add-destination", service: MISSING, destination: rs("10.244.9.9", 80) },
];

/**
 * A table in a fixed order (services by key, real servers by address): the kernel lists real
 * servers newest first and services by hash, the fake in insertion order.
 */
export function sortedTable<T extends { key: ServiceKey; destinations: { address: string }[] }>(
  t: readonly T[],
): T[] {
  return t.map((s) => ({ ...s, destinations: sortedByAddress(s.destinations) }))
    .sort((a, b) => (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1));
}

/** Real servers by address. */
export function sortedByAddress<D extends { address: string }>(ds: readonly D[]): D[] {
  return [...ds].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** Runs the scenario; returns what each step answered, for the tests to compare. */
export async function ipvsScenario(ipvs: Ipvs) {
  const info = await ipvs.info();
  const timeoutsBefore = await ipvs.getTimeouts();
  const results = (await ipvs.apply(SCENARIO_OPS)).map((r) =>
    r.ok ? "ok" : `${r.errno} ${r.error.message}`
  );
  const table = await ipvs.readAll();
  const got = await ipvs.getService(TCP443);
  const missing = await ipvs.getService(MISSING);
  const missingDests = await ipvs.listDestinations(MISSING);
  // Several services' real servers in one read, a missing one among them; a read without counters.
  const many = await ipvs.listDestinationsOf([TCP80, MISSING, UDP6]);
  const lean = await ipvs.readAll({ counters: false });
  await ipvs.setTimeouts({ tcp: 1800, udp: 60 });
  const timeoutsAfter = await ipvs.getTimeouts();
  return {
    info,
    timeoutsBefore,
    results,
    table,
    got,
    missing,
    missingDests,
    many,
    lean,
    timeoutsAfter,
  };
}
