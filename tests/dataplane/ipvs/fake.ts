/**
 * An in-memory {@link Ipvs} that answers like the kernel: EEXIST for a duplicate service or
 * destination, ESRCH for a missing service, ENOENT for a missing destination or a scheduler the
 * "kernel" lacks, ERANGE for a negative weight or crossed thresholds, EINVAL for what cannot be
 * encoded. For unit tests of code that drives IPVS; never a stand-in for the kernel tests.
 *
 * @module
 */

import { canonicalIP } from "../../../src/net/ip.ts";
import { ERRNO, netlinkError } from "../../../src/dataplane/netlink/errno.ts";
import { SCHEDULERS, SVC_F } from "../../../src/dataplane/ipvs/constants.ts";
import {
  checkOp,
  destinationId,
  failedResult,
  serviceKeyId,
  serviceKeyText,
} from "../../../src/dataplane/ipvs/describe.ts";
import type {
  DestinationKey,
  DestinationStatus,
  Ipvs,
  IpvsInfo,
  IpvsOp,
  IpvsResult,
  IpvsStats,
  IpvsTimeouts,
  ReadOptions,
  ServiceEntry,
  ServiceKey,
  ServiceStatus,
} from "../../../src/dataplane/ipvs/types.ts";
import { isFwmarkKey } from "../../../src/dataplane/ipvs/types.ts";
import { SingleOps } from "../../../src/dataplane/ipvs/single.ts";

/** Options of {@link FakeIpvs}. */
export interface FakeIpvsOptions {
  /** Schedulers this "kernel" has (default: all of {@link SCHEDULERS}). */
  schedulers?: readonly string[];
  /** Fault injection: an errno to answer instead of applying the op, or undefined. */
  fault?: (op: IpvsOp) => number | undefined;
}

/** Counters that start at zero in a new entry. */
export function zeroStats(): IpvsStats {
  return {
    connections: 0,
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    cps: 0,
    ppsIn: 0,
    ppsOut: 0,
    bpsIn: 0,
    bpsOut: 0,
  };
}

interface Entry {
  service: ServiceStatus;
  destinations: Map<string, DestinationStatus>;
}

const clone = <T>(v: T): T => structuredClone(v);

/** A copy as a read returns it: without counters when asked so. */
function read<T extends { stats?: IpvsStats }>(v: T, options: ReadOptions): T {
  const c = clone(v);
  if (options.counters === false) delete c.stats;
  return c;
}

/** In-memory IPVS table. */
export class FakeIpvs extends SingleOps implements Ipvs {
  #services = new Map<string, Entry>();
  #timeouts: IpvsTimeouts = { tcp: 900, tcpFin: 120, udp: 300 };
  #schedulers: Set<string>;
  #fault: FakeIpvsOptions["fault"];
  #sent = 0;
  /** Every op that reached the "kernel" (passed checkOp()), in order, for assertions. */
  readonly log: IpvsOp[] = [];

  constructor(options: FakeIpvsOptions = {}) {
    super();
    this.#schedulers = new Set(options.schedulers ?? SCHEDULERS);
    this.#fault = options.fault;
  }

  /** Messages the kernel implementation would have sent (one per op or read request). */
  get messagesSent(): number {
    return this.#sent;
  }

  readAll(options: ReadOptions = {}): Promise<ServiceEntry[]> {
    this.#sent += 1 + this.#services.size;
    return Promise.resolve([...this.#services.values()].map((e) => ({
      ...read(e.service, options),
      destinations: [...e.destinations.values()].map((d) => read(d, options)),
    })));
  }

  listServices(options: ReadOptions = {}): Promise<ServiceStatus[]> {
    this.#sent++;
    return Promise.resolve([...this.#services.values()].map((e) => read(e.service, options)));
  }

  getService(key: ServiceKey): Promise<ServiceStatus | undefined> {
    this.#sent++;
    const e = this.#services.get(serviceKeyId(key));
    return Promise.resolve(e && clone(e.service));
  }

  getServices(keys: readonly ServiceKey[]): Promise<(ServiceStatus | undefined)[]> {
    this.#sent += keys.length;
    return Promise.resolve(keys.map((key) => {
      const e = this.#services.get(serviceKeyId(key));
      return e && clone(e.service);
    }));
  }

  /** Like the kernel's dump: a missing service has no destinations (no error). */
  listDestinations(key: ServiceKey, options: ReadOptions = {}): Promise<DestinationStatus[]> {
    this.#sent++;
    return Promise.resolve(this.#destinations(key, options));
  }

  listDestinationsOf(
    keys: readonly ServiceKey[],
    options: ReadOptions = {},
  ): Promise<DestinationStatus[][]> {
    this.#sent += keys.length;
    return Promise.resolve(keys.map((k) => this.#destinations(k, options)));
  }

  #destinations(key: ServiceKey, options: ReadOptions): DestinationStatus[] {
    const e = this.#services.get(serviceKeyId(key));
    return e ? [...e.destinations.values()].map((d) => read(d, options)) : [];
  }

  apply(ops: readonly IpvsOp[]): Promise<IpvsResult[]> {
    return settle(() =>
      ops.map((op): IpvsResult => {
        const bad = checkOp(op);
        if (bad) return failedResult(op, bad.errno, bad.reason);
        this.#sent++;
        this.log.push(clone(op));
        const errno = this.#fault?.(op) ?? this.#applyOne(op);
        return errno === 0 ? { ok: true, op } : failedResult(op, errno);
      })
    );
  }

  flush(): Promise<void> {
    this.#sent++;
    this.#services.clear();
    return Promise.resolve();
  }

  getTimeouts(): Promise<IpvsTimeouts> {
    this.#sent++;
    return Promise.resolve({ ...this.#timeouts });
  }

  setTimeouts(t: Partial<IpvsTimeouts>): Promise<void> {
    this.#sent++;
    for (const [k, v] of Object.entries(t) as [keyof IpvsTimeouts, number][]) {
      if (!Number.isInteger(v) || v < 0 || v > 0x7fff_ffff) {
        return Promise.reject(netlinkError({
          what: "set IPVS timeouts",
          errno: ERRNO.EINVAL,
          hint: `invalid ${k} timeout ${v}`,
        }));
      }
      if (v > 0) this.#timeouts[k] = v;
    }
    return Promise.resolve();
  }

  info(): Promise<IpvsInfo> {
    this.#sent++;
    return Promise.resolve({ version: "1.2.1", connectionTableSize: 4096 });
  }

  close(): void {}

  /**
   * Sets what the kernel would count for a destination (connections, counters), for tests of
   * code that reads them (graceful termination). Throws when the destination does not exist.
   */
  setDestinationStatus(
    service: ServiceKey,
    destination: DestinationKey,
    status: Partial<
      Pick<
        DestinationStatus,
        "activeConnections" | "inactiveConnections" | "persistentConnections" | "stats"
      >
    >,
  ): void {
    const d = this.#services.get(serviceKeyId(service))?.destinations.get(
      destinationId(destination),
    );
    if (!d) {
      throw new Error(`no destination ${destinationId(destination)} in ${serviceKeyText(service)}`);
    }
    Object.assign(d, clone(status));
  }

  /**
   * Sets what the kernel would count for a virtual server (its counters and rate estimates),
   * for tests of code that reads them (`kipvs top`). Throws when the service does not exist.
   */
  setServiceStats(service: ServiceKey, stats: Partial<IpvsStats>): void {
    const e = this.#services.get(serviceKeyId(service));
    if (!e) throw new Error(`no virtual server ${serviceKeyText(service)}`);
    e.service.stats = { ...(e.service.stats ?? zeroStats()), ...stats };
  }

  protected one(op: IpvsOp): Promise<void> {
    return this.apply([op]).then(([r]) => {
      if (r && !r.ok) throw r.error;
    });
  }

  /** One op against the table; returns 0 or the kernel's errno for it. */
  #applyOne(op: IpvsOp): number {
    switch (op.op) {
      case "add-service":
      case "update-service": {
        const id = serviceKeyId(op.service.key);
        const e = this.#services.get(id);
        if (op.op === "add-service" && e) return ERRNO.EEXIST;
        if (op.op === "update-service" && !e) return ERRNO.ESRCH;
        const s = op.service;
        if (!this.#schedulers.has(s.scheduler)) return ERRNO.ENOENT;
        if (s.key.family === 6 && s.netmask < 1) return ERRNO.EINVAL;
        // Only what the kernel keeps (a caller's object may carry more, like its real servers).
        const service: ServiceStatus = {
          key: isFwmarkKey(s.key) ? { family: s.key.family, fwmark: s.key.fwmark } : {
            family: s.key.family,
            protocol: s.key.protocol,
            address: canonicalIP(s.key.address)!,
            port: s.key.port,
          },
          scheduler: s.scheduler,
          flags: s.flags & ~SVC_F.HASHED,
          timeout: s.timeout,
          netmask: s.netmask,
          persistenceEngine: s.persistenceEngine,
          stats: e?.service.stats ?? zeroStats(),
        };
        if (e) e.service = service;
        else this.#services.set(id, { service, destinations: new Map() });
        return 0;
      }
      case "delete-service":
        return this.#services.delete(serviceKeyId(op.key)) ? 0 : ERRNO.ESRCH;
      default: {
        const e = this.#services.get(serviceKeyId(op.service));
        if (!e) return ERRNO.ESRCH;
        const id = destinationId(op.destination);
        const have = e.destinations.get(id);
        if (op.op === "delete-destination") return e.destinations.delete(id) ? 0 : ERRNO.ENOENT;
        const d = op.destination;
        // A destination of another family than its service needs tunnel forwarding.
        if (d.family !== op.service.family && d.forward !== "tunnel") return ERRNO.EINVAL;
        if (d.weight < 0) return ERRNO.ERANGE;
        if (d.lowerThreshold > d.upperThreshold) return ERRNO.ERANGE;
        if (op.op === "add-destination" && have) return ERRNO.EEXIST;
        if (op.op === "update-destination" && !have) return ERRNO.ENOENT;
        const stored: DestinationStatus = {
          address: canonicalIP(d.address)!,
          port: d.port,
          family: d.family,
          forward: d.forward,
          weight: d.weight,
          upperThreshold: d.upperThreshold,
          lowerThreshold: d.lowerThreshold,
          activeConnections: have?.activeConnections ?? 0,
          inactiveConnections: have?.inactiveConnections ?? 0,
          persistentConnections: have?.persistentConnections ?? 0,
          stats: have?.stats ?? zeroStats(),
        };
        // The kernel reports its default encapsulation for a tunnel given none.
        if (d.forward === "tunnel") {
          stored.tunnel = clone(d.tunnel) ?? { type: "ipip", port: 0, flags: 0 };
        }
        e.destinations.set(id, stored);
        return 0;
      }
    }
  }
}

/** Runs `work` now and settles a promise with its value or its exception, as the kernel's
 * handle answers (after its work, never before). */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err);
  }
}
