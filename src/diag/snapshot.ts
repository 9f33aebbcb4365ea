/**
 * The node's dataplane read once into one plain snapshot: the IPVS table with counters,
 * kube-ipvs0 and its addresses, every ipset with its entries (`ipset save`), each family's
 * iptables (`iptables-save`), the sysctl verdicts and the node's local addresses. `dump`,
 * `dump --diff`, `explain` and `cleanup` all work from one such snapshot, so what they print is
 * one consistent reading of the kernel and nothing is read twice.
 *
 * @module
 */

import { describeError, KipvsError } from "../errors.ts";
import type { Ipset } from "../dataplane/ipset/ipset.ts";
import type { IpsetSnapshot } from "../dataplane/ipset/save.ts";
import type { Iptables } from "../dataplane/iptables/iptables.ts";
import type { IptablesSnapshot } from "../dataplane/iptables/save.ts";
import type { Ipvs, ServiceEntry } from "../dataplane/ipvs/types.ts";
import type { DummyLink, LinkState } from "../dataplane/link/types.ts";
import type { SysctlVerdict } from "../dataplane/sysctl/reconcile.ts";
import type { Family } from "../net/family.ts";
import { canonicalIP } from "../net/ip.ts";
import type { Nftables } from "../dataplane/nftables/nftables.ts";
import type { ParsedNftTable } from "../dataplane/nftables/parse.ts";

/** The kernel facilities a snapshot reads. */
export type Facility = "ipvs" | "link" | "ipset" | "iptables" | "nftables" | "sysctl";

/** What a snapshot reads from. Each part may be missing (the facility is then reported). */
export interface SnapshotSources {
  /**
   * The IPVS table, or the error that kept it from being opened (no permission); undefined when
   * the kernel has no IPVS at all (nothing is programmed there).
   */
  ipvs: Pick<Ipvs, "readAll"> | Error | undefined;
  link: Pick<DummyLink, "get" | "listAddresses"> | Error;
  ipset: Pick<Ipset, "save">;
  iptables: Pick<Iptables, "save">;
  /** kipvs's nftables tables (`nft list table`); left out, the snapshot has none. */
  nftables?: Pick<Nftables, "read">;
  /** The sysctl verdicts (`kipvs sysctl --check`); left out, the snapshot has none. */
  sysctls?: () => Promise<SysctlVerdict[]>;
  /** Every address of every interface (`Deno.networkInterfaces()`), kube-ipvs0's included. */
  interfaces: () => readonly { address: string }[];
}

/** Options of {@link readSnapshot}. */
export interface SnapshotOptions {
  /** Families whose iptables are read (default both). */
  families?: readonly Family[];
  /** Throw the first read failure instead of recording it (for commands that cannot go on). */
  strict?: boolean;
}

/** One read failure. */
export interface SnapshotError {
  facility: Facility;
  message: string;
}

/** The node's dataplane at one moment. */
export interface NodeSnapshot {
  /** Every virtual server with its real servers and counters, in the kernel's order. */
  ipvs: ServiceEntry[];
  /** kube-ipvs0, undefined when it does not exist. */
  link?: LinkState;
  /** kube-ipvs0's addresses, canonical. */
  addresses: string[];
  ipsets: IpsetSnapshot;
  /** `iptables-save` per family read. */
  iptables: Map<Family, IptablesSnapshot>;
  /** kipvs's nftables table per family read, when the node has it (the nftables backend). */
  nft: Map<Family, ParsedNftTable>;
  sysctls: SysctlVerdict[];
  /** The node's local addresses (every interface, kube-ipvs0 and loopback included), canonical. */
  localAddresses: Set<string>;
  /** What could not be read; empty when everything was. */
  errors: SnapshotError[];
}

/** A snapshot with nothing in it (a node kipvs never touched). */
export function emptySnapshot(): NodeSnapshot {
  return {
    ipvs: [],
    addresses: [],
    ipsets: new Map(),
    iptables: new Map(),
    nft: new Map(),
    sysctls: [],
    localAddresses: new Set(),
    errors: [],
  };
}

/**
 * Reads the whole dataplane. A facility that fails is recorded in `errors` and left empty (or,
 * with `strict`, its error is thrown as a KipvsError naming the facility).
 */
export async function readSnapshot(
  sources: SnapshotSources,
  options: SnapshotOptions = {},
): Promise<NodeSnapshot> {
  const snap = emptySnapshot();
  const attempt = async (facility: Facility, read: () => Promise<void>) => {
    try {
      await read();
    } catch (err) {
      if (options.strict) {
        if (err instanceof KipvsError) throw err;
        throw new KipvsError("internal", `reading ${facility}: ${describeError(err)}`, {
          cause: err,
        });
      }
      snap.errors.push({ facility, message: describeError(err) });
    }
  };
  const { ipvs, link } = sources;
  await attempt("ipvs", async () => {
    if (ipvs instanceof Error) throw ipvs;
    snap.ipvs = ipvs ? await ipvs.readAll() : [];
  });
  await attempt("link", async () => {
    if (link instanceof Error) throw link;
    snap.link = await link.get();
    snap.addresses = snap.link ? await link.listAddresses() : [];
  });
  await attempt("ipset", async () => {
    snap.ipsets = await sources.ipset.save();
  });
  for (const family of options.families ?? [4, 6]) {
    await attempt("iptables", async () => {
      snap.iptables.set(family, await sources.iptables.save(family));
    });
  }
  const nft = sources.nftables;
  if (nft) {
    for (const family of options.families ?? [4, 6]) {
      await attempt("nftables", async () => {
        const t = await nft.read(family);
        if (t !== undefined) snap.nft.set(family, t);
      });
    }
  }
  if (sources.sysctls) {
    const read = sources.sysctls;
    await attempt("sysctl", async () => {
      snap.sysctls = await read();
    });
  }
  for (const i of sources.interfaces()) {
    const ip = canonicalIP(i.address.split("%")[0]!);
    if (ip) snap.localAddresses.add(ip);
  }
  for (const a of snap.addresses) snap.localAddresses.add(a);
  return snap;
}
