/**
 * The answers to a run of dump requests whose sequence numbers are `first`, `first + 1`, ...:
 * which dumps have ended, which the kernel refused with EBUSY (it runs one dump at a time per
 * socket), and each answer message routed to its request.
 *
 * @module
 */

import { NLMSG_DONE, NLMSG_ERROR } from "./constants.ts";
import { ERRNO } from "./errno.ts";
import type { MessageCursor, MessageRef } from "./reader.ts";
import type { Datagram } from "./socket.ts";

/** How `NetlinkClient.dumpEach` went, since the client was made. */
export interface DumpCounters {
  /** Pipelined runs (one system call each, many dumps). */
  pipelinedRuns: number;
  /** Dumps in pipelined runs, retries included. */
  pipelinedDumps: number;
  /** Dumps asked again because the kernel was busy with another (EBUSY). */
  busyRetries: number;
  /** Dumps sent one by one (no pipelining on this socket). */
  sequentialDumps: number;
}

/** Options of `NetlinkClient.dumpEach`. */
export interface DumpEachOptions<T> {
  /** What dumping `item` is, for errors: "list destinations of TCP/10.96.0.10:80". */
  what: (item: T) => string;
  /** An answer message to the dump of `items[index]` (valid only during the call). */
  onMessage: (index: number, view: DataView, msg: MessageRef) => void;
}

const WAITING = 0;
const RUNNING = 1;
const ENDED = 2;
const REFUSED = 3;

/** Options of {@link DumpRun}. */
export interface DumpRunOptions {
  /** Sequence number of the first request. */
  first: number;
  /** Requests in the run. */
  count: number;
  /** An answer message of request `k` (valid only during the call). */
  onMessage: (k: number, view: DataView, msg: MessageRef) => void;
  /** Request `k` failed with `errno` (it should throw). */
  onError: (k: number, errno: number) => void;
}

/** Tracks the answers of one run of dump requests. */
export class DumpRun {
  #o: DumpRunOptions;
  #state: Uint8Array;
  #open: number;

  constructor(o: DumpRunOptions) {
    this.#o = o;
    this.#state = new Uint8Array(o.count);
    this.#open = o.count;
  }

  /** Whether every request has ended or been refused. */
  get settled(): boolean {
    return this.#open === 0;
  }

  /** The requests the kernel refused because another dump was running. */
  refused(): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.#state.length; k++) if (this.#state[k] === REFUSED) out.push(k);
    return out;
  }

  /** Takes every message of `datagrams` (in `view`), walking them with `cursor`. */
  takeAll(view: DataView, datagrams: readonly Datagram[], cursor: MessageCursor): void {
    for (const d of datagrams) {
      cursor.reset(view, d.length, d.offset);
      while (cursor.next()) this.take(view, cursor);
    }
  }

  /** Takes one received message; those of other requests (late answers) are ignored. */
  take(view: DataView, m: MessageRef): void {
    const k = (m.seq - this.#o.first) >>> 0;
    if (k >= this.#state.length) return;
    const state = this.#state[k];
    if (state === ENDED || state === REFUSED) return;
    if (m.type === NLMSG_DONE) {
      // NLMSG_DONE carries the dump's outcome: 0, or the negative errno that ended it.
      const errno = m.length >= 20 ? -view.getInt32(m.offset + 16, true) : 0;
      if (errno > 0) this.#o.onError(k, errno);
      this.#end(k, ENDED);
    } else if (m.type === NLMSG_ERROR) {
      const errno = -view.getInt32(m.offset + 16, true);
      // A refused dump never started: nothing of it was delivered, so it can be asked again.
      if (errno === ERRNO.EBUSY && state === WAITING) this.#end(k, REFUSED);
      else if (errno !== 0) this.#o.onError(k, errno);
      else this.#end(k, ENDED);
    } else {
      this.#state[k] = RUNNING;
      this.#o.onMessage(k, view, m);
    }
  }

  #end(k: number, state: number): void {
    this.#state[k] = state;
    this.#open--;
  }
}
