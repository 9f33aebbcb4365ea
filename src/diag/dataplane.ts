/**
 * The kernel facilities the diagnostic commands read (and `cleanup` writes), opened so that one
 * that cannot be opened (no ip_vs module, no permission) is an error value to report rather
 * than a failure of the whole command.
 *
 * @module
 */

import type { Exec } from "../dataplane/exec.ts";
import { type Ipset, KernelIpset } from "../dataplane/ipset/ipset.ts";
import { type IptablesBackendChoice, resolveBackend } from "../dataplane/iptables/backend.ts";
import { type Iptables, KernelIptables } from "../dataplane/iptables/iptables.ts";
import { KernelIpvs } from "../dataplane/ipvs/kernel.ts";
import type { Ipvs } from "../dataplane/ipvs/types.ts";
import { KernelDummyLink } from "../dataplane/link/kernel.ts";
import type { DummyLink } from "../dataplane/link/types.ts";
import { KernelNftables, type Nftables } from "../dataplane/nftables/nftables.ts";

/** The dataplane as the diagnostic commands see it. */
export interface DiagDataplane {
  ipvs: Ipvs | Error;
  link: DummyLink | Error;
  ipset: Ipset;
  iptables: Iptables;
  /** kipvs's nftables tables (read with `nft`, removed over netlink). */
  nftables?: Nftables;
  /** "legacy" or "nft". */
  backend: string;
  /** Closes the netlink sockets. */
  close(): void;
}

function attempt<T>(open: () => T): T | Error {
  try {
    return open();
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Opens the kernel's IPVS, kube-ipvs0, ipset and iptables (backend resolved like `run`). */
export async function openKernelDataplane(
  exec: Exec,
  backend: IptablesBackendChoice,
): Promise<DiagDataplane> {
  const resolved = await resolveBackend(backend, exec);
  const ipvs = attempt(() => KernelIpvs.open());
  const link = attempt(() => KernelDummyLink.open());
  const nftables = new KernelNftables({ exec });
  return {
    ipvs,
    link,
    ipset: new KernelIpset(exec),
    iptables: new KernelIptables({ exec, backend: resolved }),
    nftables,
    backend: resolved,
    close() {
      if (!(ipvs instanceof Error)) ipvs.close();
      if (!(link instanceof Error)) link.close();
      nftables.close();
    },
  };
}
