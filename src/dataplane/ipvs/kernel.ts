/**
 * {@link Ipvs} over the kernel's IPVS generic netlink family: a libnl socket, requests written
 * in TypeScript and sent in batches by {@link NetlinkClient}, replies decoded in place.
 *
 * @module
 */

import { NETLINK_GENERIC } from "../netlink/constants.ts";
import { ERRNO, netlinkErrno, netlinkError } from "../netlink/errno.ts";
import { type DumpCounters, NetlinkClient, type NetlinkTransport } from "../netlink/client.ts";
import type { MessageRef } from "../netlink/reader.ts";
import type { MessageWriter } from "../netlink/writer.ts";
import { beginIpvs, putDestination, putService } from "./codec.ts";
import { decodeDestination, decodeService, decodeServiceEntry, replyAttrs } from "./decode.ts";
import { CMD, CMD_ATTR, INFO_ATTR, IPVS_GENL_NAME } from "./constants.ts";
import { checkOp, failedResult, serviceKeyText } from "./describe.ts";
import type {
  DestinationStatus,
  Ipvs,
  IpvsInfo,
  IpvsOp,
  IpvsResult,
  IpvsTimeouts,
  ReadOptions,
  ServiceEntry,
  ServiceKey,
  ServiceStatus,
} from "./types.ts";
import { SingleOps } from "./single.ts";

/** Options of {@link KernelIpvs.open}. */
export interface KernelIpvsOptions {
  /** Requests per send in {@link KernelIpvs.apply} (default 512). */
  maxPerSend?: number;
  /** How long to wait for the kernel's answer, ms (default 10 s). */
  replyTimeoutMs?: number;
  /** A transport instead of a new socket (unit tests, captures). */
  transport?: NetlinkTransport;
  /** The first netlink sequence number (default random), for replays. */
  firstSeq?: number;
  /** Pipeline the destination dumps of a read through io_uring where possible (default true). */
  pipeline?: boolean;
}

const OP_CMD: Record<IpvsOp["op"], number> = {
  "add-service": CMD.NEW_SERVICE,
  "update-service": CMD.SET_SERVICE,
  "delete-service": CMD.DEL_SERVICE,
  "add-destination": CMD.NEW_DEST,
  "update-destination": CMD.SET_DEST,
  "delete-destination": CMD.DEL_DEST,
};

/** The IPVS table of the network namespace the process is in when {@link open} runs. */
export class KernelIpvs extends SingleOps implements Ipvs {
  #c: NetlinkClient;
  #family: number;

  private constructor(c: NetlinkClient, family: number) {
    super();
    this.#c = c;
    this.#family = family;
  }

  /** Opens a generic netlink socket and resolves the IPVS family (kernel-unsupported without). */
  static open(options: KernelIpvsOptions = {}): KernelIpvs {
    const c = new NetlinkClient({ protocol: NETLINK_GENERIC, ...options });
    try {
      return new KernelIpvs(c, c.socket.resolveFamily(IPVS_GENL_NAME));
    } catch (err) {
      c.close();
      throw err;
    }
  }

  get messagesSent(): number {
    return this.#c.messagesSent;
  }

  /** How the destination dumps of reads went: pipelined runs, EBUSY retries, one-by-one dumps. */
  get dumpCounters(): DumpCounters {
    return this.#c.dumpCounters;
  }

  /**
   * Why reads dump real servers one by one rather than pipelined through io_uring (a kernel
   * before 5.11, `kernel.io_uring_disabled`, a seccomp profile that refuses io_uring, as
   * container runtimes' defaults do); undefined while pipelining works or before the first read.
   */
  get pipelineUnavailable(): string | undefined {
    return this.#c.socket.pipelineUnavailable;
  }

  readAll(options: ReadOptions = {}): Promise<ServiceEntry[]> {
    return this.#readAll(options.counters !== false);
  }

  listServices(options: ReadOptions = {}): Promise<ServiceStatus[]> {
    const counters = options.counters !== false;
    return this.#listServices((view, m) => decodeService(view, m, counters));
  }

  async getService(key: ServiceKey): Promise<ServiceStatus | undefined> {
    const what = `get service ${serviceKeyText(key)}`;
    this.#checkKey(key, what);
    try {
      return await this.#c.request(
        (w, flags, seq) => {
          beginIpvs(w, { family: this.#family, cmd: CMD.GET_SERVICE, flags, seq });
          putService(w, key);
          w.end();
        },
        what,
        decodeService,
      );
    } catch (err) {
      if (netlinkErrno(err) === ERRNO.ESRCH) return undefined;
      throw err;
    }
  }

  async getServices(keys: readonly ServiceKey[]): Promise<(ServiceStatus | undefined)[]> {
    for (const key of keys) this.#checkKey(key, `get service ${serviceKeyText(key)}`);
    const out: (ServiceStatus | undefined)[] = keys.map(() => undefined);
    const errnos = await this.#c.requestEach(
      keys,
      (w, key, flags, seq) => {
        beginIpvs(w, { family: this.#family, cmd: CMD.GET_SERVICE, flags, seq });
        putService(w, key);
        w.end();
      },
      "get services",
      (i, view, m) => (out[i] = decodeService(view, m)),
    );
    for (let i = 0; i < keys.length; i++) {
      const errno = errnos[i];
      if (errno === 0 || errno === ERRNO.ESRCH) continue;
      // Lost (the socket overran) or refused: asked again alone, which names the error.
      out[i] = await this.getService(keys[i]!);
    }
    return out;
  }

  async listDestinations(
    key: ServiceKey,
    options: ReadOptions = {},
  ): Promise<DestinationStatus[]> {
    this.#checkKey(key, `list destinations of ${serviceKeyText(key)}`);
    return await this.#listDestinations(key, options.counters !== false);
  }

  /**
   * The real servers of many virtual servers, in the order of `keys` ([] for one that does not
   * exist): their dumps pipelined, up to 64 per system call where the kernel allows it.
   */
  async listDestinationsOf(
    keys: readonly ServiceKey[],
    options: ReadOptions = {},
  ): Promise<DestinationStatus[][]> {
    for (const key of keys) this.#checkKey(key, `list destinations of ${serviceKeyText(key)}`);
    const out: DestinationStatus[][] = keys.map(() => []);
    await this.#destinationsInto(keys, out, options.counters !== false);
    return out;
  }

  apply(ops: readonly IpvsOp[]): Promise<IpvsResult[]> {
    return this.#apply(ops);
  }

  flush(): Promise<void> {
    return this.#simple(CMD.FLUSH, "flush IPVS table", () => {});
  }

  getTimeouts(): Promise<IpvsTimeouts> {
    return this.#c.request(
      (w, flags, seq) => {
        beginIpvs(w, { family: this.#family, cmd: CMD.GET_CONFIG, flags, seq });
        w.end();
      },
      "get IPVS timeouts",
      (view, m) => {
        const a = replyAttrs(view, m, CMD_ATTR.MAX);
        return {
          tcp: a.u32(CMD_ATTR.TIMEOUT_TCP),
          tcpFin: a.u32(CMD_ATTR.TIMEOUT_TCP_FIN),
          udp: a.u32(CMD_ATTR.TIMEOUT_UDP),
        };
      },
    );
  }

  async setTimeouts(t: Partial<IpvsTimeouts>): Promise<void> {
    const what = `set IPVS timeouts tcp=${t.tcp ?? 0} tcpfin=${t.tcpFin ?? 0} udp=${t.udp ?? 0}`;
    for (const [k, v] of Object.entries(t)) {
      if (!Number.isInteger(v) || v < 0 || v > 0x7fff_ffff) {
        throw netlinkError({ what, errno: ERRNO.EINVAL, hint: `invalid ${k} timeout ${v}` });
      }
    }
    await this.#simple(CMD.SET_CONFIG, what, (w) => {
      if (t.tcp) w.u32(CMD_ATTR.TIMEOUT_TCP, t.tcp);
      if (t.tcpFin) w.u32(CMD_ATTR.TIMEOUT_TCP_FIN, t.tcpFin);
      if (t.udp) w.u32(CMD_ATTR.TIMEOUT_UDP, t.udp);
    });
  }

  info(): Promise<IpvsInfo> {
    return (
      this.#c.request(
        (w, flags, seq) => {
          beginIpvs(w, { family: this.#family, cmd: CMD.GET_INFO, flags, seq });
          w.end();
        },
        "get IPVS info",
        (view, m) => {
          const a = replyAttrs(view, m, INFO_ATTR.MAX);
          const v = a.u32(INFO_ATTR.VERSION);
          return {
            version: `${v >>> 16}.${(v >>> 8) & 0xff}.${v & 0xff}`,
            connectionTableSize: a.u32(INFO_ATTR.CONN_TAB_SIZE),
          };
        },
      )
    );
  }

  close(): void {
    this.#c.close();
  }

  async #readAll(counters: boolean): Promise<ServiceEntry[]> {
    const services = await this.#listServices((view, m) => decodeServiceEntry(view, m, counters));
    const keys = services.map((s) => s.key);
    await this.#destinationsInto(keys, services.map((s) => s.destinations), counters);
    return services;
  }

  /** Appends the real servers of `keys[i]` to `out[i]`. */
  #destinationsInto(
    keys: readonly ServiceKey[],
    out: DestinationStatus[][],
    counters: boolean,
  ): Promise<void> {
    return this.#c.dumpEach(keys, (w, key, flags, seq) => {
      beginIpvs(w, { family: this.#family, cmd: CMD.GET_DEST, flags, seq });
      putService(w, key);
      w.end();
    }, {
      what: (key) => `list destinations of ${serviceKeyText(key)}`,
      onMessage: (i, view, m) => {
        (out[i] as DestinationStatus[]).push(
          decodeDestination(view, m, (keys[i] as ServiceKey).family, counters),
        );
      },
    });
  }

  async #listServices<S extends ServiceStatus>(
    decode: (view: DataView, m: MessageRef) => S,
  ): Promise<S[]> {
    const out: S[] = [];
    await this.#c.dump(
      (w, flags, seq) => {
        beginIpvs(w, { family: this.#family, cmd: CMD.GET_SERVICE, flags, seq });
        w.end();
      },
      "list IPVS services",
      (view, m) => out.push(decode(view, m)),
    );
    return out;
  }

  async #listDestinations(key: ServiceKey, counters: boolean): Promise<DestinationStatus[]> {
    const out: DestinationStatus[] = [];
    await this.#c.dump(
      (w, flags, seq) => {
        beginIpvs(w, { family: this.#family, cmd: CMD.GET_DEST, flags, seq });
        putService(w, key);
        w.end();
      },
      `list destinations of ${serviceKeyText(key)}`,
      (view, m) => out.push(decodeDestination(view, m, key.family, counters)),
    );
    return out;
  }

  async #apply(ops: readonly IpvsOp[]): Promise<IpvsResult[]> {
    const results: IpvsResult[] = new Array(ops.length);
    const valid: number[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as IpvsOp;
      const bad = checkOp(op);
      if (bad) results[i] = failedResult(op, bad.errno, bad.reason);
      else valid.push(i);
    }
    const errnos = await this.#c.exchange(
      valid,
      (w, i, flags, seq) => this.#encodeOp(w, ops[i] as IpvsOp, flags, seq),
      "apply IPVS changes",
    );
    for (let k = 0; k < valid.length; k++) {
      const i = valid[k] as number;
      const op = ops[i] as IpvsOp;
      const errno = errnos[k] as number;
      results[i] = errno === 0 ? { ok: true, op } : failedResult(op, errno);
    }
    return results;
  }

  #encodeOp(w: MessageWriter, op: IpvsOp, flags: number, seq: number): void {
    beginIpvs(w, { family: this.#family, cmd: OP_CMD[op.op], flags, seq });
    switch (op.op) {
      case "add-service":
      case "update-service":
        putService(w, op.service.key, op.service);
        break;
      case "delete-service":
        putService(w, op.key);
        break;
      default:
        putService(w, op.service);
        putDestination(w, op.destination, op.op !== "delete-destination");
    }
    w.end();
  }

  protected async one(op: IpvsOp): Promise<void> {
    const [r] = await this.#apply([op]);
    if (r && !r.ok) throw r.error;
  }

  async #simple(cmd: number, what: string, attrs: (w: MessageWriter) => void): Promise<void> {
    const [errno] = await this.#c.exchange([0], (w, _i, flags, seq) => {
      beginIpvs(w, { family: this.#family, cmd, flags, seq });
      attrs(w);
      w.end();
    }, what);
    if (errno) throw netlinkError({ what, errno });
  }

  #checkKey(key: ServiceKey, what: string): void {
    const bad = checkOp({ op: "delete-service", key });
    if (bad) throw netlinkError({ what, errno: bad.errno, hint: bad.reason });
  }
}
