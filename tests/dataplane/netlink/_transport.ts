/**
 * Netlink transports for unit tests: one that records a real socket's conversation (run in
 * the guest to capture kernel replies as test data), one that replays such a recording and
 * checks every request byte for byte, and one that answers like the kernel from a handler
 * (error replies for failing messages, acknowledgements where asked).
 *
 * @module
 */

import { NLM_F_ACK, NLMSG_ERROR } from "../../../src/dataplane/netlink/constants.ts";
import type { NetlinkTransport } from "../../../src/dataplane/netlink/client.ts";
import { messages } from "../../../src/dataplane/netlink/reader.ts";
import type { Received } from "../../../src/dataplane/netlink/socket.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));

/** One send and the datagrams that followed it. */
export interface Exchange {
  request: string;
  replies: string[];
}

/** A recorded conversation: the family id resolved, then every exchange. */
export interface Recording {
  family: number;
  exchanges: Exchange[];
}

/** Wraps a real transport and records what goes through it. */
export class CaptureTransport implements NetlinkTransport {
  readonly recording: Recording = { family: 0, exchanges: [] };
  #inner: NetlinkTransport;

  constructor(inner: NetlinkTransport) {
    this.#inner = inner;
  }
  get view(): DataView {
    return this.#inner.view;
  }
  get sendBufferBytes(): number {
    return this.#inner.sendBufferBytes;
  }
  get receiveBufferBytes(): number {
    return this.#inner.receiveBufferBytes;
  }
  resolveFamily(name: string): number {
    return (this.recording.family = this.#inner.resolveFamily(name));
  }
  send(bytes: Uint8Array, what: string): void {
    this.recording.exchanges.push({ request: hex(bytes), replies: [] });
    this.#inner.send(bytes, what);
  }
  receive(timeoutMs: number): Received {
    const r = this.#inner.receive(timeoutMs);
    if (r.kind === "data") {
      for (const d of r.datagrams) {
        const b = new Uint8Array(this.#inner.view.buffer, d.offset, d.length);
        this.recording.exchanges.at(-1)?.replies.push(hex(b));
      }
    }
    return r;
  }
  close(): void {
    this.#inner.close();
  }
}

/** Plays a recording back; a request that differs from the recorded one throws. */
export class ReplayTransport implements NetlinkTransport {
  readonly sendBufferBytes = 1 << 20;
  readonly receiveBufferBytes = 8 << 20;
  #rec: Recording;
  #next = 0;
  #pending: Uint8Array[] = [];
  #buf = new Uint8Array(64 * 1024);
  readonly view = new DataView(this.#buf.buffer);

  constructor(rec: Recording) {
    this.#rec = rec;
  }
  /** Exchanges not yet replayed. */
  get remaining(): number {
    return this.#rec.exchanges.length - this.#next;
  }
  resolveFamily(): number {
    return this.#rec.family;
  }
  send(bytes: Uint8Array): void {
    const ex = this.#rec.exchanges[this.#next++];
    if (!ex) throw new Error(`unexpected request ${hex(bytes)}`);
    if (ex.request !== hex(bytes)) {
      throw new Error(
        `request differs from the recording:\n got  ${hex(bytes)}\n want ${ex.request}`,
      );
    }
    this.#pending = ex.replies.map(unhex);
  }
  receive(): Received {
    const d = this.#pending.shift();
    if (!d) return { kind: "timeout" };
    this.#buf.set(d);
    return { kind: "data", datagrams: [{ offset: 0, length: d.length }] };
  }
  close(): void {}
}

/** Options of {@link ScriptedKernel}. */
export interface ScriptedKernelOptions {
  /** The errno the "kernel" answers for a request (0 for success). */
  handle: (msg: { type: number; flags: number; seq: number; payload: Uint8Array }) => number;
  /** Drop every reply after this many per send, as a full receive buffer would. */
  dropAfter?: number;
  sendBufferBytes?: number;
  receiveBufferBytes?: number;
}

/**
 * Answers like the kernel does: each message is handled in order during the send; a failing
 * one gets an error reply (capped: its header only), a succeeding one an acknowledgement only
 * when it asked for one. Replies beyond `dropAfter` are lost and reported as an overrun once
 * the queued ones are read, as the kernel reports ENOBUFS.
 */
export class ScriptedKernel implements NetlinkTransport {
  readonly sendBufferBytes: number;
  readonly receiveBufferBytes: number;
  /** Messages per send, in order. */
  readonly sends: number[] = [];
  #o: ScriptedKernelOptions;
  #queue: Uint8Array[] = [];
  #overrun = false;
  #buf = new Uint8Array(64 * 1024);
  readonly view = new DataView(this.#buf.buffer);

  constructor(o: ScriptedKernelOptions) {
    this.#o = o;
    this.sendBufferBytes = o.sendBufferBytes ?? 1 << 20;
    this.receiveBufferBytes = o.receiveBufferBytes ?? 8 << 20;
  }
  resolveFamily(): number {
    return 28;
  }
  send(bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let n = 0;
    let queued = 0;
    for (const m of messages(view, bytes.length)) {
      n++;
      const payload = bytes.subarray(m.offset + 16, m.offset + m.length);
      const errno = this.#o.handle({ type: m.type, flags: m.flags, seq: m.seq, payload });
      if (errno === 0 && !(m.flags & NLM_F_ACK)) continue;
      if (this.#o.dropAfter !== undefined && queued >= this.#o.dropAfter) {
        this.#overrun = true;
        continue;
      }
      queued++;
      const r = new Uint8Array(36);
      const rv = new DataView(r.buffer);
      rv.setUint32(0, 36, true);
      rv.setUint16(4, NLMSG_ERROR, true);
      rv.setUint16(6, 0x100, true); // NLM_F_CAPPED
      rv.setUint32(8, m.seq, true);
      rv.setInt32(16, -errno, true);
      r.set(bytes.subarray(m.offset, m.offset + 16), 20);
      this.#queue.push(r);
    }
    this.sends.push(n);
  }
  receive(): Received {
    const d = this.#queue.shift();
    if (!d && this.#overrun) {
      // As the kernel: queued replies first, then the pending socket error.
      this.#overrun = false;
      return { kind: "overrun" };
    }
    if (!d) return { kind: "timeout" };
    this.#buf.set(d);
    return { kind: "data", datagrams: [{ offset: 0, length: d.length }] };
  }
  close(): void {}
}
