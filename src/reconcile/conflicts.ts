/**
 * Saying which Services conflict: two Services that want the same virtual server (see
 * `PlanMerge` for who wins). Each conflict is said once, in one warning that names every
 * Service in it and which one has it, when it appears or its Services change; a node port's
 * conflict is one, whatever the number of node addresses.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { DesiredState, VirtualServerSpec } from "../plan/desired.ts";

/** "node port UDP 30053", "TCP 10.96.0.10:80", "TCP [fd00::10]:80". */
export function describeVirtualServer(spec: VirtualServerSpec): string {
  if (spec.kind === "node-port") return `node port ${spec.protocol} ${spec.port}`;
  const host = spec.address.includes(":") ? `[${spec.address}]` : spec.address;
  return `${spec.protocol} ${host}:${spec.port}`;
}

/** Says conflicts as they appear; counts those there are. */
export class ConflictReporter {
  /** What is wanted twice → the Services that want it, the winner first. */
  #said = new Map<string, string>();

  /** Conflicts there are now (a node port's counts once). */
  get count(): number {
    return this.#said.size;
  }

  /** Warns about the conflicts of `desired` not said before (or whose Services changed). */
  report(desired: DesiredState, log: Pick<Logger, "warn">): void {
    const now = new Map<string, string[]>();
    for (const [key, owners] of desired.conflicts) {
      const spec = desired.virtualServers.get(key);
      if (spec && !now.has(describeVirtualServer(spec))) {
        now.set(describeVirtualServer(spec), owners);
      }
    }
    const said = new Map<string, string>();
    for (const [what, owners] of now) {
      const who = owners.join(" ");
      said.set(what, who);
      if (this.#said.get(what) === who) continue;
      const [winner, ...losers] = owners;
      log.warn(
        `Services ${owners.join(" and ")} both want ${what}: ${winner} has it (the oldest ` +
          `creationTimestamp, then namespace/name); the other ports of ${losers.join(", ")} ` +
          `are programmed`,
        { conflict: what, winner, losers },
      );
    }
    this.#said = said;
  }
}
