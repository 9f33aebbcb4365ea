/**
 * Deleting stale UDP conntrack entries toward removed endpoints, as kube-proxy does: without it a
 * UDP client keeps sending to a dead backend for as long as its conntrack entry lives.
 *
 * @module
 */

import type { Exec } from "../exec.ts";
import type { Logger } from "../../log.ts";

/** One removed UDP endpoint of a virtual server. */
export interface StaleUdpFlow {
  /** The service address the client sent to (cluster IP, external IP, node IP, ...). */
  vip: string;
  port: number;
  /** The endpoint address the flow was translated to. */
  endpoint: string;
}

/** Deletes conntrack entries. */
export interface Conntrack {
  /** Deletes the UDP entries of each flow; returns how many deletes failed. */
  clearUdp(flows: readonly StaleUdpFlow[]): Promise<number>;
  /** Releases what it holds (a netlink socket). */
  close?(): void;
}

/** {@link Conntrack} through the `conntrack` program (conntrack-tools). */
export class ConntrackProgram implements Conntrack {
  #exec: Exec;
  #log: Logger;

  constructor(exec: Exec, log: Logger) {
    this.#exec = exec;
    this.#log = log;
  }

  async clearUdp(flows: readonly StaleUdpFlow[]): Promise<number> {
    let failed = 0;
    for (const f of flows) {
      // like: conntrack -D -p udp --orig-dst VIP --orig-port-dst PORT --reply-src ENDPOINT
      const family = f.vip.includes(":") ? ["-f", "ipv6"] : [];
      const res = await this.#exec.run("conntrack", [
        "-D",
        ...family,
        "-p",
        "udp",
        "--orig-dst",
        f.vip,
        "--orig-port-dst",
        String(f.port),
        "--reply-src",
        f.endpoint,
      ]);
      // Exit 1 with "0 flow entries have been deleted" just means there was nothing to delete.
      if (res.code !== 0 && !/0 flow entries/.test(res.stderr)) {
        failed++;
        this.#log.warn("cannot delete stale UDP conntrack entries", {
          vip: f.vip,
          port: f.port,
          endpoint: f.endpoint,
          stderr: res.stderr.trim(),
        });
      }
    }
    return failed;
  }
}

/** Records flows instead of deleting them. */
export class FakeConntrack implements Conntrack {
  readonly cleared: StaleUdpFlow[] = [];
  clearUdp(flows: readonly StaleUdpFlow[]): Promise<number> {
    this.cleared.push(...flows);
    return Promise.resolve(0);
  }
}
