/**
 * Netlink transports for unit tests: one that records a real socket's conversation (run in
 * the guest to capture kernel replies as test data), one that replays such a recording and
 * checks every request byte for byte, and one that answers like the kernel from a handler
 * (error replies for failing messages, acknowledgements where asked, dumps one at a time).
 *
 * @module
 */

import { NLM_F_ACK, NLMSG_ERROR } from "../../../src/dataplane/netlink/constants.ts";
import type { NetlinkTransport } from "../../../src/dataplane/netlink/client.ts";
import { messages } from "../../../src/dataplane/netlink/reader.ts";
import type { Datagram, Received } from "../../../src/dataplane/netlink/socket.ts";
import type { PipelineRequest, PipelineResult } from "../../../src/dataplane/netlink/pipeline.ts";

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
  /**
   * The answer to a dump request (NLM_F_DUMP): the payloads of its messages, or an errno to
   * refuse it with. Without it (or when it returns undefined), dumps go to `handle`.
   */
  dump?: (msg: { type: number; seq: number; payload: Uint8Array }) => Uint8Array[] | number;
  /**
   * The answer's payload to a request that succeeds and is no dump (a GET): sent as a message of
   * the request's type and sequence number, before its acknowledgement. Without it (or when it
   * returns undefined) a success gets an acknowledgement only, when asked for.
   */
  reply?: (msg: { type: number; seq: number; payload: Uint8Array }) => Uint8Array | undefined;
  /** Most bytes of one dump datagram (default 32,448, the kernel's with 32 KiB receives). */
  dumpPartBytes?: number;
  /** Whether sends and receives can be pipelined (io_uring) (default true). */
  pipeline?: boolean;
  /** Drop every reply after this many per send, as a full receive buffer would. */
  dropAfter?: number;
  sendBufferBytes?: number;
  receiveBufferBytes?: number;
}

const NLM_F_DUMP = 0x300;
const NLM_F_MULTI = 0x2;
const NLMSG_DONE = 3;
const EBUSY = 16;

/**
 * Answers like the kernel does: each message is handled in order during the send; a failing
 * one gets an error reply (capped: its header only), a succeeding one an acknowledgement only
 * when it asked for one. Replies beyond `dropAfter` are lost and reported as an overrun once
 * the queued ones are read, as the kernel reports ENOBUFS.
 *
 * Dumps run as the kernel runs them (net/netlink/af_netlink.c): one at a time per socket; the
 * send makes the first datagram; receiving any datagram while a dump runs makes its next one;
 * NLMSG_DONE comes alone in a datagram of its own, made by the receive after the last part (or
 * at once for an empty dump, which then ends during the send); a dump request that arrives
 * while another runs is refused with EBUSY.
 */
export class ScriptedKernel implements NetlinkTransport {
  readonly sendBufferBytes: number;
  readonly receiveBufferBytes: number;
  /** Messages per send, in order. */
  readonly sends: number[] = [];
  /** Pipelined runs (system calls) so far. */
  pipelines = 0;
  /** Dump requests refused with EBUSY so far. */
  busy = 0;
  #o: ScriptedKernelOptions;
  #queue: Uint8Array[] = [];
  #overrun = false;
  /** The running dump: its datagrams still to make, then DONE. */
  #dump: { parts: Uint8Array[]; done: Uint8Array } | undefined;
  #buf = new Uint8Array(64 * 1024);
  readonly view = new DataView(this.#buf.buffer);
  #pipeBuf = new Uint8Array(64 * 3 * 32 * 1024);

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
      const header = bytes.subarray(m.offset, m.offset + 16);
      const answer = (m.flags & NLM_F_DUMP) === NLM_F_DUMP
        ? this.#o.dump?.({ type: m.type, seq: m.seq, payload })
        : undefined;
      if (Array.isArray(answer)) {
        if (this.#dump) {
          this.busy++;
          this.#queue.push(errorReply(m.seq, EBUSY, header));
        } else {
          this.#startDump(m.type, m.seq, answer);
        }
        continue;
      }
      const errno = answer ?? this.#o.handle({ type: m.type, flags: m.flags, seq: m.seq, payload });
      const data = errno === 0 ? this.#o.reply?.({ type: m.type, seq: m.seq, payload }) : undefined;
      if (data) {
        if (this.#o.dropAfter !== undefined && queued >= this.#o.dropAfter) this.#overrun = true;
        else {
          queued++;
          this.#queue.push(message(m.type, 0, m.seq, data));
        }
      }
      if (errno === 0 && !(m.flags & NLM_F_ACK)) continue;
      if (this.#o.dropAfter !== undefined && queued >= this.#o.dropAfter) {
        this.#overrun = true;
        continue;
      }
      queued++;
      this.#queue.push(errorReply(m.seq, errno, header));
    }
    this.sends.push(n);
  }
  receive(): Received {
    const d = this.#dequeue();
    if (!d && this.#overrun) {
      // As the kernel: queued replies first, then the pending socket error.
      this.#overrun = false;
      return { kind: "overrun" };
    }
    if (!d) return { kind: "timeout" };
    this.#buf.set(d);
    return { kind: "data", datagrams: [{ offset: 0, length: d.length }] };
  }
  pipeline(req: PipelineRequest): PipelineResult | undefined {
    if (this.#o.pipeline === false) return undefined;
    this.pipelines++;
    const datagrams: Datagram[] = [];
    let start = 0;
    let slot = 0;
    for (const end of req.ends) {
      this.send(req.bytes.subarray(start, end));
      start = end;
      for (let r = 0; r < req.receivesPerSend; r++, slot++) {
        const d = this.#dequeue();
        if (!d) continue; // EAGAIN
        const at = slot * 32 * 1024;
        this.#pipeBuf.set(d, at);
        datagrams.push({ offset: at, length: d.length });
      }
    }
    return { view: new DataView(this.#pipeBuf.buffer), datagrams };
  }
  /** Queues a datagram as if the kernel had sent it (a late answer, say). */
  inject(datagram: Uint8Array): void {
    this.#queue.push(datagram);
  }
  close(): void {}

  #startDump(type: number, seq: number, payloads: Uint8Array[]): void {
    const limit = this.#o.dumpPartBytes ?? 32_448;
    const parts: Uint8Array[] = [];
    let part: Uint8Array[] = [];
    let size = 0;
    for (const p of payloads) {
      const msg = message(type, NLM_F_MULTI, seq, p);
      if (size + msg.length > limit && part.length > 0) {
        parts.push(concat(part));
        part = [];
        size = 0;
      }
      part.push(msg);
      size += msg.length;
    }
    if (part.length > 0) parts.push(concat(part));
    const done = message(NLMSG_DONE, NLM_F_MULTI, seq, new Uint8Array(4));
    const first = parts.shift();
    if (!first) {
      this.#queue.push(done); // an empty dump ends at once
      return;
    }
    this.#queue.push(first);
    this.#dump = { parts, done };
  }

  /** Takes the next queued datagram; a running dump then makes its next one. */
  #dequeue(): Uint8Array | undefined {
    const d = this.#queue.shift();
    if (d && this.#dump) {
      const next = this.#dump.parts.shift();
      if (next) {
        this.#queue.push(next);
      } else {
        this.#queue.push(this.#dump.done);
        this.#dump = undefined;
      }
    }
    return d;
  }
}

function message(type: number, flags: number, seq: number, payload: Uint8Array): Uint8Array {
  const len = 16 + payload.length;
  const out = new Uint8Array((len + 3) & ~3);
  const v = new DataView(out.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq, true);
  out.set(payload, 16);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An error reply (capped: the failing message's header only), or an ack for errno 0. */
function errorReply(seq: number, errno: number, header: Uint8Array): Uint8Array {
  const r = new Uint8Array(36);
  const rv = new DataView(r.buffer);
  rv.setUint32(0, 36, true);
  rv.setUint16(4, NLMSG_ERROR, true);
  rv.setUint16(6, 0x100, true); // NLM_F_CAPPED
  rv.setUint32(8, seq, true);
  rv.setInt32(16, -errno, true);
  r.set(header, 20);
  return r;
}
