/**
 * IPVS objects in the kernel's vocabulary, and the {@link Ipvs} interface that the kernel
 * implementation (`kernel.ts`) and the in-memory fake (tests/dataplane/ipvs/fake.ts) both provide.
 *
 * @module
 */

import type { KipvsError } from "../../errors.ts";
import type { Family } from "../../net/family.ts";
import type { FWD, TUN_TYPE } from "./constants.ts";

/** Transport protocols of virtual servers. */
export type IpvsProtocol = "TCP" | "UDP" | "SCTP";

/** A virtual server identified by protocol, address and port (ipvsadm -t / -u / --sctp-service). */
export interface AddressServiceKey {
  family: Family;
  protocol: IpvsProtocol;
  address: string;
  port: number;
}

/** A virtual server identified by firewall mark (ipvsadm -f). */
export interface FwmarkServiceKey {
  family: Family;
  fwmark: number;
}

/** What identifies a virtual server in the kernel. */
export type ServiceKey = AddressServiceKey | FwmarkServiceKey;

/** Whether a key is a firewall-mark key. */
export function isFwmarkKey(key: ServiceKey): key is FwmarkServiceKey {
  return "fwmark" in key;
}

/** A virtual server's settings, as the kernel holds them. */
export interface VirtualServer {
  key: ServiceKey;
  /** Scheduler name: one of {@link SCHEDULERS}. */
  scheduler: string;
  /** IP_VS_SVC_F_* bits (see `SVC_F`), HASHED excluded: persistence, one-packet, sh/mh flags. */
  flags: number;
  /** Persistence timeout, seconds (meaningful with SVC_F.PERSISTENT). */
  timeout: number;
  /**
   * Persistence granularity as a prefix length: 32 (IPv4) or 128 (IPv6) groups by client
   * address, shorter prefixes group clients by network (ipvsadm -M).
   */
  netmask: number;
  /** Persistence engine ("sip"); "" for none. */
  persistenceEngine: string;
}

/** Forwarding method of a real server, by kernel name (masq = NAT, droute = direct routing). */
export type ForwardMethod = keyof typeof FWD;
/** Encapsulation of tunnel forwarding. */
export type TunnelType = keyof typeof TUN_TYPE;

/** What identifies a real server within its virtual server. */
export interface DestinationKey {
  address: string;
  port: number;
}

/** A real server's settings. */
export interface Destination extends DestinationKey {
  /** Address family; differs from the service's only with tunnel forwarding. */
  family: Family;
  forward: ForwardMethod;
  weight: number;
  /** Connection upper threshold; 0 for none. */
  upperThreshold: number;
  /** Connection lower threshold; 0 for none. */
  lowerThreshold: number;
  /**
   * Tunnel encapsulation (tunnel forwarding only): type, UDP port (gue) and TUN_F flags. The
   * kernel's default is ipip; reads of a tunnel destination always carry it.
   */
  tunnel?: { type: TunnelType; port: number; flags: number };
}

/** Traffic counters (totals and rates) of a virtual or real server. */
export interface IpvsStats {
  connections: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  cps: number;
  ppsIn: number;
  ppsOut: number;
  bpsIn: number;
  bpsOut: number;
}

/** A virtual server as read back, with counters. */
export interface ServiceStatus extends VirtualServer {
  /** Traffic counters; absent when read with `{ counters: false }`. */
  stats?: IpvsStats;
}

/** A real server as read back, with connection counts and counters. */
export interface DestinationStatus extends Destination {
  activeConnections: number;
  inactiveConnections: number;
  persistentConnections: number;
  /** Traffic counters; absent when read with `{ counters: false }`. */
  stats?: IpvsStats;
}

/** Options of the reads of {@link Ipvs}. */
export interface ReadOptions {
  /**
   * Read the traffic counters (`stats`) too (default true). A read without them decodes about
   * half as much; what a sync compares (settings, weights, connection counts) is all there.
   */
  counters?: boolean;
}

/** A virtual server with its real servers. */
export interface ServiceEntry extends ServiceStatus {
  destinations: DestinationStatus[];
}

/** One change of a batch. */
export type IpvsOp =
  | { op: "add-service"; service: VirtualServer }
  | { op: "update-service"; service: VirtualServer }
  | { op: "delete-service"; key: ServiceKey }
  | { op: "add-destination"; service: ServiceKey; destination: Destination }
  | { op: "update-destination"; service: ServiceKey; destination: Destination }
  | { op: "delete-destination"; service: ServiceKey; destination: DestinationKey };

/** The outcome of one op of {@link Ipvs.apply}. */
export type IpvsResult =
  | { ok: true; op: IpvsOp }
  | {
    ok: false;
    op: IpvsOp;
    /** The kernel's errno (EEXIST 17, ESRCH 3, ...). */
    errno: number;
    /** A netlink KipvsError naming the op and its object. */
    error: KipvsError;
  };

/** Connection timeouts, seconds (ipvsadm --set tcp tcpfin udp). */
export interface IpvsTimeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

/** What GET_INFO tells. */
export interface IpvsInfo {
  /** "1.2.1". */
  version: string;
  /** Size of the connection hash table (ip_vs conn_tab_bits). */
  connectionTableSize: number;
}

/**
 * The IPVS table of one network namespace. Operations throw a netlink KipvsError carrying the
 * kernel's errno (`netlinkErrno(err)`), with the operation and its object in the message.
 */
export interface Ipvs {
  /**
   * Every virtual server with its real servers (counters included unless `counters: false`):
   * one dump of the services, then one of each service's real servers, pipelined. In the
   * kernel's order (its hash), not sorted.
   */
  readAll(options?: ReadOptions): Promise<ServiceEntry[]>;
  /** Every virtual server, without real servers. */
  listServices(options?: ReadOptions): Promise<ServiceStatus[]>;
  /** One virtual server, or undefined when there is none with this key. */
  getService(key: ServiceKey): Promise<ServiceStatus | undefined>;

  /**
   * The virtual servers of `keys`, in that order (undefined for one that does not exist): many
   * requests per send, much cheaper than {@link getService} in a loop.
   */
  getServices(keys: readonly ServiceKey[]): Promise<(ServiceStatus | undefined)[]>;
  /** The real servers of a virtual server ([] when the service does not exist, as the kernel says). */
  listDestinations(key: ServiceKey, options?: ReadOptions): Promise<DestinationStatus[]>;
  /**
   * The real servers of each virtual server of `keys`, in that order ([] for one that does not
   * exist): one read for many services, much cheaper than {@link listDestinations} in a loop.
   */
  listDestinationsOf(
    keys: readonly ServiceKey[],
    options?: ReadOptions,
  ): Promise<DestinationStatus[][]>;

  addService(service: VirtualServer): Promise<void>;
  updateService(service: VirtualServer): Promise<void>;
  deleteService(key: ServiceKey): Promise<void>;
  addDestination(service: ServiceKey, destination: Destination): Promise<void>;
  updateDestination(service: ServiceKey, destination: Destination): Promise<void>;
  deleteDestination(service: ServiceKey, destination: DestinationKey): Promise<void>;

  /** Applies every op in order with few round trips; one result per op; failures never stop the rest. */
  apply(ops: readonly IpvsOp[]): Promise<IpvsResult[]>;

  /** Removes every virtual server (ipvsadm -C). */
  flush(): Promise<void>;
  getTimeouts(): Promise<IpvsTimeouts>;
  /** Sets the given timeouts; absent or 0 leaves a timeout as it is (ipvsadm --set). */
  setTimeouts(timeouts: Partial<IpvsTimeouts>): Promise<void>;
  info(): Promise<IpvsInfo>;

  /** Netlink messages sent so far (the kernel implementation; the fake counts ops). */
  readonly messagesSent: number;
  /**
   * Why whole-table reads go one request at a time instead of pipelined (the kernel
   * implementation, once it has tried); undefined while pipelining works.
   */
  readonly pipelineUnavailable?: string;
  close(): void;
}
