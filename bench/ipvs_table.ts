/**
 * The IPVS tables of bench:ipvs and bench:ipvs-trash: service i at 10.96.0.0/12 + i, real server
 * n at 10.128.0.0/9 + n (unique across the table), TCP port 80 to 8080, masquerading. No host-only
 * imports: the guest side of a bench loads it under kipvs's permissions.
 *
 * @module
 */

import type { RulesEntry } from "../src/dataplane/ipvs/rules.ts";
import type { Destination, ServiceKey } from "../src/dataplane/ipvs/types.ts";

const ip = (base: number, n: number) => `10.${base + (n >>> 16)}.${(n >>> 8) & 0xff}.${n & 0xff}`;

/** The key of service `i`. */
export function benchKey(i: number): ServiceKey {
  return { family: 4, protocol: "TCP", address: ip(96, i), port: 80 };
}

/** Real server `n`, weight 1. */
export function benchDestination(n: number): Destination {
  return {
    address: ip(128, n),
    port: 8080,
    family: 4,
    forward: "masq",
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
  };
}

/** The table: `services` virtual servers, round robin, with `dests` real servers each. */
export function benchTable(services: number, dests: number): RulesEntry[] {
  const table: RulesEntry[] = [];
  for (let i = 0; i < services; i++) {
    table.push({
      key: benchKey(i),
      scheduler: "rr",
      flags: 0,
      timeout: 0,
      netmask: 32,
      persistenceEngine: "",
      destinations: Array.from({ length: dests }, (_, j) => benchDestination(i * dests + j)),
    });
  }
  return table;
}
