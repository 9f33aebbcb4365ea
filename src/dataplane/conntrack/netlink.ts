/**
 * {@link Conntrack} over ctnetlink, as kube-proxy deletes stale UDP flows: one dump of the
 * conntrack table per address family, the entries whose original destination is a flow's
 * service address and port and whose reply source is its endpoint picked out here, and one
 * delete per entry (by its original tuple, zone and id) sent in batches of hundreds per
 * system call through the shared {@link NetlinkClient}, as ipset writes go. No process runs.
 * The `conntrack` program (`-D ... --orig-dst --orig-port-dst --reply-src`, a process per
 * flow) is the fallback when the kernel's ctnetlink does not answer.
 *
 * @module
 */

import type { Family } from "../../net/family.ts";
import type { Logger } from "../../log.ts";
import { NetlinkClient, type NetlinkTransport } from "../netlink/client.ts";
import { ERRNO, errnoName } from "../netlink/errno.ts";
import { NETLINK_NETFILTER } from "../ipset/constants.ts";
import type { Conntrack, StaleUdpFlow } from "./conntrack.ts";
import { beginConntrack, type ConntrackEntry, EntryDecoder } from "./codec.ts";
import { IPCTNL_MSG, IPPROTO_UDP } from "./constants.ts";

/** Options of {@link NetlinkConntrack.open}. */
export interface NetlinkConntrackOptions {
  /** Where a failure is said. */
  logger: Pick<Logger, "warn">;
  /** Requests per send (default 512). */
  maxPerSend?: number;
  /** A transport instead of a new socket (unit tests). */
  transport?: NetlinkTransport;
  /** The first netlink sequence number (default random). */
  firstSeq?: number;
  /** Ask the table's statistics first, to fail now when ctnetlink is missing (default true). */
  probe?: boolean;
}

/** The conntrack table of the network namespace the process is in when {@link open} runs. */
export class NetlinkConntrack implements Conntrack {
  #c: NetlinkClient;
  #log: Pick<Logger, "warn">;
  #deleted = 0;

  private constructor(c: NetlinkClient, log: Pick<Logger, "warn">) {
    this.#c = c;
    this.#log = log;
  }

  /**
   * Opens a netfilter netlink socket and asks the table's statistics once (which also loads
   * nf_conntrack_netlink where it is a module). Throws when ctnetlink does not answer.
   */
  static async open(options: NetlinkConntrackOptions): Promise<NetlinkConntrack> {
    const c = new NetlinkClient({ protocol: NETLINK_NETFILTER, ...options });
    try {
      if (options.probe === false) return new NetlinkConntrack(c, options.logger);
      await c.request(
        (w, flags, seq) => {
          beginConntrack(w, { msg: IPCTNL_MSG.GET_STATS, family: 4, flags, seq });
          w.end();
        },
        "ask the conntrack table's statistics",
        () => undefined,
      );
      return new NetlinkConntrack(c, options.logger);
    } catch (err) {
      c.close();
      throw err;
    }
  }

  /** Netlink messages sent so far. */
  get messagesSent(): number {
    return this.#c.messagesSent;
  }

  /** Entries deleted so far. */
  get deleted(): number {
    return this.#deleted;
  }

  /**
   * Deletes the UDP entries of each flow: one dump per family of the flows, then the deletes
   * in batches. An entry gone meanwhile is not a failure. Returns how many deletes failed.
   */
  async clearUdp(flows: readonly StaleUdpFlow[]): Promise<number> {
    const wanted = new Map<string, StaleUdpFlow>();
    const families = new Set<Family>();
    for (const f of flows) {
      wanted.set(flowKey(f.vip, f.port, f.endpoint), f);
      families.add(f.vip.includes(":") ? 6 : 4);
    }
    let failed = 0;
    for (const family of [...families].sort()) {
      const stale = await this.#entries(family, wanted);
      if (stale.length === 0) continue;
      const errnos = await this.#c.exchange(stale, (w, e, flags, seq) => {
        beginConntrack(w, { msg: IPCTNL_MSG.DELETE, family, flags, seq });
        w.raw(e.tuple);
        if (e.zone) w.raw(e.zone);
        if (e.id) w.raw(e.id);
        w.end();
      }, "delete conntrack entries");
      errnos.forEach((errno, i) => {
        if (errno === 0) return void this.#deleted++;
        if (errno === ERRNO.ENOENT) return; // gone since the dump (it expired, or a reply ended it)
        failed++;
        const e = stale[i]!;
        this.#log.warn("cannot delete a stale UDP conntrack entry", {
          vip: e.origDst,
          port: e.origDstPort,
          endpoint: e.replySrc,
          errno: errnoName(errno),
        });
      });
    }
    return failed;
  }

  /** Closes the socket. */
  close(): void {
    this.#c.close();
  }

  /** The UDP entries of `family` that match a flow of `wanted`, from one dump. */
  async #entries(
    family: Family,
    wanted: ReadonlyMap<string, StaleUdpFlow>,
  ): Promise<ConntrackEntry[]> {
    const d = new EntryDecoder(family);
    const out: ConntrackEntry[] = [];
    await this.#c.dump(
      (w, flags, seq) => {
        beginConntrack(w, { msg: IPCTNL_MSG.GET, family, flags, seq });
        w.end();
      },
      `dump the IPv${family} conntrack table`,
      (view, m) => {
        if (wanted.size === 0) return;
        const e = d.read(view, m, IPPROTO_UDP);
        if (e && wanted.has(flowKey(e.origDst, e.origDstPort, e.replySrc))) out.push(e);
      },
    );
    return out;
  }
}

function flowKey(vip: string, port: number, endpoint: string): string {
  return `${vip}|${port}|${endpoint}`;
}

/** Options of {@link openConntrack}. */
export interface OpenConntrackOptions {
  /** The `conntrack` program's backend, used when ctnetlink does not answer. */
  program: Conntrack;
  logger: Pick<Logger, "info" | "warn">;
  /** Opens the netlink backend (default {@link NetlinkConntrack.open}); tests make it fail. */
  openNetlink?: () => Promise<Conntrack>;
}

/**
 * {@link NetlinkConntrack}, or the `conntrack` program when the kernel's ctnetlink does not
 * answer (said once, with why).
 */
export async function openConntrack(o: OpenConntrackOptions): Promise<Conntrack> {
  try {
    const ct = await (o.openNetlink ?? (() => NetlinkConntrack.open({ logger: o.logger })))();
    o.logger.info("stale UDP conntrack entries are deleted over netlink");
    return ct;
  } catch (err) {
    o.logger.warn("conntrack over netlink unavailable; running the conntrack program instead", {
      reason: err instanceof Error ? err.message : String(err),
    });
    return o.program;
  }
}
