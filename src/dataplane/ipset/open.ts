/**
 * Choosing the ipset backend `kipvs run` writes through: netlink where the kernel's ipset
 * subsystem answers, the `ipset` program otherwise (said once, with why).
 *
 * @module
 */

import type { Exec } from "../exec.ts";
import type { Logger } from "../../log.ts";
import { type Ipset, KernelIpset } from "./ipset.ts";
import { NetlinkIpset } from "./netlink.ts";

/** Options of {@link openIpset}. */
export interface OpenIpsetOptions {
  exec: Exec;
  logger: Pick<Logger, "info" | "warn">;
  /** Opens the netlink backend (default {@link NetlinkIpset.open}); tests make it fail. */
  openNetlink?: (program: Ipset) => Ipset | Promise<Ipset>;
}

/**
 * {@link NetlinkIpset} over a {@link KernelIpset} (for the payloads and sets of forms kipvs
 * never writes), or the {@link KernelIpset} alone when netlink cannot be used.
 */
export async function openIpset(o: OpenIpsetOptions): Promise<Ipset> {
  const program = new KernelIpset(o.exec);
  const open = o.openNetlink ?? ((p: Ipset) => NetlinkIpset.open({ program: p }));
  try {
    const ipset = await open(program);
    o.logger.info("ipsets are read and written over netlink", {
      protocol: ipset instanceof NetlinkIpset ? ipset.protocol : undefined,
    });
    return ipset;
  } catch (err) {
    o.logger.warn("ipset over netlink unavailable; running the ipset program instead", {
      reason: err instanceof Error ? err.message : String(err),
    });
    return program;
  }
}
