/**
 * Switching rules backends on a live node. Each mode's reconcilers run with one of these after
 * them, whose prune removes the other mode's objects: since the proxier runs every update
 * before any prune, the new mode's sets and rules are complete before the old mode's go, so
 * services answer all along (both rule sets agree while they overlap: the same marks, the same
 * verdicts). kube-proxy's nftables mode likewise removes the iptables and IPVS modes' rules at
 * start (pkg/proxy/nftables: CleanupLeftovers of the other proxiers).
 *
 * The check runs on the first full sync of a process (a switch is a restart with the other
 * flag) and costs nothing afterwards. Only kube-proxy's names are touched: KUBE-* chains owned by
 * its IPVS mode and the jumps to them, KUBE-* sets, and kipvs's own `kipvs` tables; other tools'
 * tables, chains and sets stay.
 *
 * @module
 */

import { KipvsError } from "../errors.ts";
import { destroyKubeSets } from "../dataplane/ipset/cleanup.ts";
import type { Ipset } from "../dataplane/ipset/ipset.ts";
import { cleanupIptables } from "../dataplane/iptables/cleanup.ts";
import type { Iptables } from "../dataplane/iptables/iptables.ts";
import type { Nftables } from "../dataplane/nftables/nftables.ts";
import type { Family } from "../net/family.ts";
import type { Logger } from "../log.ts";
import type { Reconciler, SyncScope, Write } from "./reconciler.ts";

/** Removes kipvs's nftables tables (in iptables mode). */
export class NftablesLeftovers implements Reconciler {
  readonly name = "nftables-leftovers";
  readonly phase = "rest" as const;
  #done = false;

  constructor(private readonly nft: Nftables, private readonly logger: Logger) {}

  update(_scope: SyncScope): Promise<Write[] | undefined> {
    return Promise.resolve(undefined);
  }

  async prune(scope: SyncScope): Promise<Write[]> {
    if (scope.changes || this.#done) return [];
    const found: Family[] = [];
    for (const f of [4, 6] as const) {
      try {
        if (await this.nft.hasTable(f)) found.push(f);
      } catch (err) {
        // A kernel without nf_tables has no table of ours to remove.
        this.logger.debug("nftables not readable: no kipvs table to remove", { err });
        this.#done = true;
        return [];
      }
    }
    if (found.length > 0) {
      await this.nft.deleteTables(found);
      scope.report.iptablesRestores++;
      this.logger.info("removed the nftables rules backend's tables", { families: found });
    }
    this.#done = true;
    return found.map((f) => ({ kind: "rule", action: "delete", object: `${f}/table kipvs` }));
  }

  reset(): void {}
}

/** Removes kube-proxy's IPVS-mode iptables chains and ipsets (in nftables mode). */
export class IptablesLeftovers implements Reconciler {
  readonly name = "iptables-leftovers";
  readonly phase = "rest" as const;
  #done = false;

  constructor(
    private readonly o: { iptables: Iptables; ipset: Ipset; logger: Logger },
  ) {}

  update(_scope: SyncScope): Promise<Write[] | undefined> {
    return Promise.resolve(undefined);
  }

  async prune(scope: SyncScope): Promise<Write[]> {
    if (scope.changes || this.#done) return [];
    const writes: Write[] = [];
    for (const f of [4, 6] as const) {
      try {
        const plan = await cleanupIptables(this.o.iptables, f);
        if (plan.payload !== "") scope.report.iptablesRestores++;
        for (const c of plan.chains) {
          writes.push({ kind: "rule", action: "delete", object: `${f}/${c}` });
        }
      } catch (err) {
        if (notInstalled(err)) break; // no iptables on this node: nothing of it to remove
        scope.failures.push(`remove iptables-mode chains (IPv${f}): ${message(err)}`);
      }
    }
    try {
      for (const set of await destroyKubeSets(this.o.ipset)) {
        writes.push({ kind: "ipset", action: "delete", object: set });
      }
    } catch (err) {
      if (!notInstalled(err)) scope.failures.push(`remove iptables-mode ipsets: ${message(err)}`);
    }
    if (writes.length > 0) {
      this.o.logger.info("removed the iptables rules backend's chains and sets", {
        removed: writes.length,
      });
    }
    this.#done = scope.failures.length === 0;
    return writes;
  }

  reset(): void {}
}

/** A program that could not be started (SystemExec's code -1): the tool is not installed. */
function notInstalled(err: unknown): boolean {
  if (err instanceof Deno.errors.NotFound) return true;
  return err instanceof KipvsError && err.code === "exec" && err.details?.code === -1;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
