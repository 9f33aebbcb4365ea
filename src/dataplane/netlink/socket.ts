/**
 * A netlink socket: created and connected by libnl, then driven directly (messages built in
 * TypeScript go out through `nl_sendto`; replies come in through `recv` into one reusable
 * buffer). No decision depends on `errno` read after an FFI call: sends report libnl's own
 * error code, receives are guarded by `poll`, and a pending socket error (an overrun that lost
 * replies) is read with `getsockopt(SO_ERROR)`.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import {
  MSG_DONTWAIT,
  MSG_TRUNC,
  NETLINK_CAP_ACK,
  POLLERR,
  POLLIN,
  SO_ERROR,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOL_NETLINK,
  SOL_SOCKET,
} from "./constants.ts";
import { ERRNO, netlinkError } from "./errno.ts";
import { addressOf, cString, libnlErrorText, type Native, native } from "./ffi.ts";
import {
  type Datagram,
  type PipelineRequest,
  type PipelineResult,
  SocketPipeline,
} from "./pipeline.ts";

export type { Datagram };

/** Options of {@link NetlinkSocket.open}. */
export interface NetlinkSocketOptions {
  /** NETLINK_ROUTE (0) or NETLINK_GENERIC (16). */
  protocol: number;
  /** Receive buffer wanted, bytes (default 8 MiB; forced past rmem_max when root). */
  receiveBufferBytes?: number;
  /** Send buffer wanted, bytes (default 2 MiB; forced past wmem_max when root). */
  sendBufferBytes?: number;
  /** Size of the buffer one datagram is received into (default 64 KiB). */
  datagramBytes?: number;
  /** Datagrams one receive call can take (default 4). */
  datagramsPerReceive?: number;
  /** Pipeline round trips through io_uring where the kernel allows it (default true). */
  pipeline?: boolean;
}

// struct mmsghdr on LP64 (x86_64, aarch64): msghdr { name 0, namelen 8, iov 16, iovlen 24,
// control 32, controllen 40, flags 48 } and msg_len at 56; 64 bytes. struct iovec: 16 bytes.
const MMSGHDR = 64;
const IOVEC = 16;

/** What one {@link NetlinkSocket.receive} got. */
export type Received =
  /** One or more datagrams (valid until the next receive). */
  | { kind: "data"; datagrams: readonly Datagram[] }
  | { kind: "timeout" }
  /** The socket overran: the kernel dropped replies (ENOBUFS) since the last receive. */
  | { kind: "overrun" };

// libnl error codes (netlink/errno.h) mapped back to the errno they stand for.
const NLE_TO_ERRNO: Record<number, number> = {
  4: ERRNO.EAGAIN,
  5: ERRNO.ENOBUFS,
  6: ERRNO.EEXIST,
  7: ERRNO.EINVAL,
  8: ERRNO.ERANGE,
  9: ERRNO.EMSGSIZE,
  10: ERRNO.EOPNOTSUPP,
  11: ERRNO.EAFNOSUPPORT,
  12: ERRNO.ENOENT,
  25: ERRNO.EBUSY,
  27: ERRNO.EACCES,
  28: ERRNO.EPERM,
  31: ERRNO.ENODEV,
};

/** A connected netlink socket of one protocol in the caller's network namespace. */
export class NetlinkSocket {
  #n: Native;
  #sk: Deno.PointerValue;
  #fd: number;
  #recvBuf: Uint8Array;
  #slotBytes: number;
  #slots: Datagram[];
  /** mmsghdr array, then iovec array: off the V8 heap (4 KiB), so their addresses hold. */
  #ctrl: Uint8Array;
  #ctrlView: DataView;
  #pollfd = new Uint8Array(8);
  #pollView = new DataView(this.#pollfd.buffer);
  #int = new Uint8Array(4);
  #intLen = new Uint8Array(4);
  /** The receive buffer as a DataView, valid until the next receive. */
  readonly view: DataView;
  #sndbuf = 0;
  #rcvbuf = 0;
  /** Not tried yet, the pipeline, or why there is none. */
  #pipe: SocketPipeline | { unavailable: string } | undefined;

  private constructor(n: Native, sk: Deno.PointerValue, slotBytes: number, slots: number) {
    this.#n = n;
    this.#sk = sk;
    this.#fd = n.nl.nl_socket_get_fd(sk);
    this.#slotBytes = slotBytes;
    this.#recvBuf = new Uint8Array(slotBytes * slots);
    this.#slots = Array.from({ length: slots }, (_, i) => ({ offset: i * slotBytes, length: 0 }));
    this.#ctrl = new Uint8Array(4096);
    this.#ctrlView = new DataView(this.#ctrl.buffer);
    const base = addressOf(this.#recvBuf);
    const ctrl = addressOf(this.#ctrl);
    const iovAt = slots * MMSGHDR;
    for (let i = 0; i < slots; i++) {
      const iov = iovAt + i * IOVEC;
      this.#ctrlView.setBigUint64(iov, BigInt(base) + BigInt(i * slotBytes), true);
      this.#ctrlView.setBigUint64(iov + 8, BigInt(slotBytes), true);
      this.#ctrlView.setBigUint64(i * MMSGHDR + 16, BigInt(ctrl) + BigInt(iov), true);
      this.#ctrlView.setBigUint64(i * MMSGHDR + 24, 1n, true);
    }
    this.view = new DataView(this.#recvBuf.buffer);
  }

  /** The socket's descriptor. */
  get fd(): number {
    return this.#fd;
  }

  /** The send buffer the kernel granted, bytes. */
  get sendBufferBytes(): number {
    return this.#sndbuf;
  }

  /** The receive buffer the kernel granted, bytes. */
  get receiveBufferBytes(): number {
    return this.#rcvbuf;
  }

  /** Allocates and connects a socket; sizes its buffers; asks for capped error replies. */
  static open(options: NetlinkSocketOptions): NetlinkSocket {
    const n = native();
    const sk = n.nl.nl_socket_alloc();
    if (sk === null) throw new KipvsError("netlink", "nl_socket_alloc() failed: out of memory");
    const rc = n.nl.nl_connect(sk, options.protocol);
    if (rc < 0) {
      n.nl.nl_socket_free(sk);
      throw libnlError(`connect netlink socket (protocol ${options.protocol})`, rc);
    }
    const slots = Math.max(1, Math.min(options.datagramsPerReceive ?? 4, 32));
    const s = new NetlinkSocket(n, sk, options.datagramBytes ?? 64 * 1024, slots);
    if (options.pipeline === false) s.#pipe = { unavailable: "pipelining turned off" };
    const rcv = options.receiveBufferBytes ?? 8 * 1024 * 1024;
    const snd = options.sendBufferBytes ?? 2 * 1024 * 1024;
    // FORCE needs CAP_NET_ADMIN; without it the plain option is capped by rmem_max/wmem_max.
    if (s.#setInt(SOL_SOCKET, SO_RCVBUFFORCE, rcv) < 0) s.#setInt(SOL_SOCKET, SO_RCVBUF, rcv);
    if (s.#setInt(SOL_SOCKET, SO_SNDBUFFORCE, snd) < 0) s.#setInt(SOL_SOCKET, SO_SNDBUF, snd);
    // Error replies then carry only the failing header (its sequence number is all we need),
    // so many more fit the receive buffer. Kernels before 4.3 lack it; that only costs room.
    s.#setInt(SOL_NETLINK, NETLINK_CAP_ACK, 1);
    s.#sndbuf = s.#getInt(SOL_SOCKET, SO_SNDBUF);
    s.#rcvbuf = s.#getInt(SOL_SOCKET, SO_RCVBUF);
    return s;
  }

  /** The generic netlink family id of `name` ("IPVS"); throws kernel-unsupported when absent. */
  resolveFamily(name: string): number {
    const id = this.#n.genl.genl_ctrl_resolve(this.#sk, cString(name));
    if (id < 0) {
      throw new KipvsError(
        "kernel-unsupported",
        `generic netlink family "${name}" not found: ${libnlErrorText(id)}` +
          (name === "IPVS" ? " (is the ip_vs module loaded?)" : ""),
        { details: { family: name, libnlError: id } },
      );
    }
    return id;
  }

  /** Sends `bytes` (one or many messages) in one datagram. */
  send(bytes: Uint8Array, what: string): void {
    const rc = this.#n.nl.nl_sendto(this.#sk, bytes, BigInt(bytes.length));
    if (rc < 0) throw libnlError(what, rc);
    if (rc !== bytes.length) {
      throw new KipvsError("netlink", `${what}: sent ${rc} of ${bytes.length} bytes`);
    }
  }

  /**
   * Receives the datagrams queued (as many as fit, in one `recvmmsg`), waiting up to
   * `timeoutMs` for the first. Taking several at once matters for dumps: reading a dump's data
   * makes the kernel queue its end, which the same call then takes too. An overrun (replies
   * dropped for lack of receive buffer) is reported once, then receiving goes on.
   */
  receive(timeoutMs: number): Received {
    const { libc } = this.#n;
    const slots = this.#slots.length;
    // A readable socket whose receive still fails would spin; a few rounds are plenty.
    for (let round = 0; round < 64; round++) {
      const n = libc.recvmmsg(this.#fd, this.#ctrl, slots, MSG_DONTWAIT, null);
      if (n > 0) {
        for (let i = 0; i < n; i++) {
          const len = this.#ctrlView.getUint32(i * MMSGHDR + 56, true);
          if (this.#ctrlView.getInt32(i * MMSGHDR + 48, true) & MSG_TRUNC) {
            throw new KipvsError(
              "netlink",
              `netlink datagram exceeds the ${this.#slotBytes}-byte receive buffer (got ${len})`,
            );
          }
          (this.#slots[i] as Datagram).length = len;
        }
        return { kind: "data", datagrams: n === slots ? this.#slots : this.#slots.slice(0, n) };
      }
      // Nothing queued (or a pending error): wait, and look at what poll says.
      this.#pollView.setInt32(0, this.#fd, true);
      this.#pollView.setInt16(4, POLLIN, true);
      this.#pollView.setInt16(6, 0, true);
      const ready = libc.poll(this.#pollfd, 1n, timeoutMs);
      if (ready === 0) return { kind: "timeout" };
      if (ready < 0) continue; // EINTR: poll again.
      if (this.#pollView.getInt16(6, true) & POLLERR) {
        const err = this.#getInt(SOL_SOCKET, SO_ERROR);
        if (err === ERRNO.ENOBUFS) return { kind: "overrun" };
        if (err > 0) {
          throw netlinkError({ what: "receive from netlink socket", errno: err });
        }
      }
    }
    throw new KipvsError(
      "netlink",
      "receive from netlink socket: poll says readable, recvmmsg fails",
    );
  }

  /**
   * Runs a chain of sends, each followed by receives that do not wait, in one system call
   * (see pipeline.ts). Returns undefined when io_uring cannot carry it on this kernel; then
   * {@link pipelineUnavailable} says why, and callers send one by one.
   */
  pipeline(req: PipelineRequest, what: string): PipelineResult | undefined {
    this.#pipe ??= SocketPipeline.open(this.#fd);
    const pipe = this.#pipe;
    if (!(pipe instanceof SocketPipeline)) return undefined;
    try {
      return pipe.run(req, what);
    } catch (err) {
      if (err instanceof KipvsError && err.details.errno === ERRNO.ETIMEDOUT) {
        // A run that outlived its bound: its ring goes (cancelling what is pending), and this
        // socket sends one by one from now on.
        pipe.close();
        this.#pipe = { unavailable: `an io_uring run timed out: ${err.message}` };
      }
      throw err;
    }
  }

  /** Why {@link pipeline} returns undefined (once it has been tried). */
  get pipelineUnavailable(): string | undefined {
    return this.#pipe instanceof SocketPipeline ? undefined : this.#pipe?.unavailable;
  }

  /** Frees the socket (closes its descriptor). Safe to call twice. */
  close(): void {
    if (this.#pipe instanceof SocketPipeline) this.#pipe.close();
    this.#pipe = { unavailable: "socket closed" };
    if (this.#sk === null) return;
    this.#n.nl.nl_socket_free(this.#sk);
    this.#sk = null;
  }

  #setInt(level: number, opt: number, value: number): number {
    new DataView(this.#int.buffer).setInt32(0, value, true);
    return this.#n.libc.setsockopt(this.#fd, level, opt, this.#int, 4);
  }

  #getInt(level: number, opt: number): number {
    new DataView(this.#intLen.buffer).setUint32(0, 4, true);
    const rc = this.#n.libc.getsockopt(this.#fd, level, opt, this.#int, this.#intLen);
    return rc < 0 ? -1 : new DataView(this.#int.buffer).getInt32(0, true);
  }
}

function libnlError(what: string, code: number): KipvsError {
  const errno = NLE_TO_ERRNO[-code];
  const text = libnlErrorText(code);
  if (errno === undefined) {
    return new KipvsError("netlink", `${what}: ${text} (libnl error ${-code})`, {
      details: { libnlError: -code, operation: what },
    });
  }
  return netlinkError({ what, errno, details: { libnlError: -code, libnlText: text } });
}
