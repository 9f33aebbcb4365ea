/**
 * Netlink round trips pipelined through io_uring: a chain of sends, each followed by a few
 * receives that do not wait, submitted with one system call. Each step runs when the one
 * before it has completed, so a receive takes what the kernel queued for the send before it;
 * a dump's next part is made when its previous part is received, so the receives of a step
 * drain a short dump completely before the next send.
 *
 * @module
 */

import { KipvsError } from "../../errors.ts";
import { MSG_DONTWAIT, MSG_TRUNC } from "./constants.ts";
import { netlinkError } from "./errno.ts";
import { addressOf } from "./ffi.ts";
import { IORING_OP_RECV, IORING_OP_SEND, IOSQE_IO_HARDLINK, Uring } from "./uring.ts";

/** Where one received datagram lies in a socket's receive buffer (NetlinkSocket.view). */
export interface Datagram {
  offset: number;
  length: number;
}

/** What one pipelined run does. */
export interface PipelineRequest {
  /** The messages of every send, back to back. */
  bytes: Uint8Array;
  /** Where each send's datagram ends in `bytes` (it starts where the previous one ended). */
  ends: readonly number[];
  /** Datagrams taken after each send, none waited for (1 to 3). */
  receivesPerSend: number;
  /** Bound of the whole run, ms (it never waits on the kernel; this catches a kernel that does). */
  timeoutMs: number;
}

/** Sends one pipelined run takes at most. */
export const PIPELINE_MAX_SENDS = 64;

/** What a run received: the datagrams in the order they came, in `view`. */
export interface PipelineResult {
  view: DataView;
  datagrams: readonly Datagram[];
}

// A netlink datagram is never larger: dump parts are cut at the largest receive the socket has
// seen, capped at 32 KiB less the kernel's skb overhead, and kipvs's other replies are small.
const SLOT_BYTES = 32 * 1024;
const MAX_RECEIVES = 3;
const RING_ENTRIES = PIPELINE_MAX_SENDS * (1 + MAX_RECEIVES);
const EAGAIN = 11;

/** Sends and receives on one socket descriptor through an io_uring of its own. */
export class SocketPipeline {
  #fd: number;
  #ring: Uring;
  #slots: Uint8Array | undefined;
  #slotsAt = 0n;
  #datagrams: Datagram[] = [];

  private constructor(fd: number, ring: Uring) {
    this.#fd = fd;
    this.#ring = ring;
  }

  /** A pipeline on `fd`, or why io_uring cannot carry one. */
  static open(fd: number): SocketPipeline | { unavailable: string } {
    const ring = Uring.open({ entries: RING_ENTRIES, ops: [IORING_OP_SEND, IORING_OP_RECV] });
    return ring instanceof Uring ? new SocketPipeline(fd, ring) : ring;
  }

  /** Runs the chain; a send the kernel refused throws a netlink error naming `what`. */
  run(req: PipelineRequest, what: string): PipelineResult {
    const per = req.receivesPerSend;
    const sends = req.ends.length;
    if (per < 1 || per > MAX_RECEIVES || sends > PIPELINE_MAX_SENDS) {
      throw new KipvsError("internal", `pipeline of ${sends} sends x ${per} receives`);
    }
    const slots = this.#slotBuffer();
    const base = addressOf(req.bytes);
    const ring = this.#ring;
    let start = 0;
    let slot = 0;
    const total = sends * (1 + per);
    for (let i = 0; i < sends; i++) {
      const end = req.ends[i] as number;
      ring.add({
        op: IORING_OP_SEND,
        fd: this.#fd,
        addr: base + BigInt(start),
        len: end - start,
        msgFlags: 0,
        flags: IOSQE_IO_HARDLINK,
      });
      start = end;
      for (let r = 0; r < per; r++) {
        const last = ring.pending === total - 1;
        ring.add({
          op: IORING_OP_RECV,
          fd: this.#fd,
          addr: this.#slotsAt + BigInt(slot++ * SLOT_BYTES),
          len: SLOT_BYTES,
          // MSG_TRUNC: the result is the datagram's whole length, so a cut one shows.
          msgFlags: MSG_DONTWAIT | MSG_TRUNC,
          flags: last ? 0 : IOSQE_IO_HARDLINK,
        });
      }
    }
    const results = ring.run(req.timeoutMs);
    const out = this.#datagrams;
    out.length = 0;
    slot = 0;
    for (let k = 0; k < total; k++) {
      const res = results[k] as number;
      if (k % (1 + per) === 0) {
        // A send: every byte goes in one datagram, or the kernel refused it.
        if (res < 0) throw netlinkError({ what, errno: -res });
        continue;
      }
      const at = slot++ * SLOT_BYTES;
      if (res === -EAGAIN) continue; // nothing was queued: the answer was shorter
      if (res < 0) throw netlinkError({ what: `${what}: receive`, errno: -res });
      if (res > SLOT_BYTES) {
        throw new KipvsError(
          "netlink",
          `netlink datagram exceeds the ${SLOT_BYTES}-byte receive buffer (got ${res})`,
        );
      }
      out.push({ offset: at, length: res });
    }
    return { view: new DataView(slots.buffer), datagrams: out };
  }

  /** Closes the ring. */
  close(): void {
    this.#ring.close();
  }

  /**
   * One slot per receive of a full ring. Pages are only touched when a receive writes them,
   * so the unused tail of each slot costs address space, not memory.
   */
  #slotBuffer(): Uint8Array {
    if (!this.#slots) {
      this.#slots = new Uint8Array(PIPELINE_MAX_SENDS * MAX_RECEIVES * SLOT_BYTES);
      this.#slotsAt = addressOf(this.#slots);
    }
    return this.#slots;
  }
}
